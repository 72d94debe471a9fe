// One client connection: reads requests (header and body limits, timeouts), hands them to the routes, and writes
// responses, whole or as a server-sent event stream. All of it runs on the connection's strand.
//
// While a generation runs, a read stays pending on the socket: it sees the client hang up (and cancels the
// generation at once), and keeps any pipelined request for later.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "server/api_error.h"
#include "server/request_log.h"
#include "server/server_state.h"

namespace hearth::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

using HttpRequest = http::request<http::string_body>;

// Beast's boost::string_view as the standard one.
inline std::string_view view(beast::string_view text) { return {text.data(), text.size()}; }

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};
Response json_response(int status, const json& body);
Response error_response(const ApiError& error);

// Started by a generation route; gets the client's disconnect.
class ActiveGeneration {
 public:
  virtual ~ActiveGeneration() = default;
  virtual void cancel() = 0;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(net::ip::tcp::socket socket, ServerState& state);
  ~HttpSession();
  void start();

  net::any_io_executor executor() { return stream_.get_executor(); }
  ServerState& state() { return state_; }

  // The one response to the current request; `record` is logged and counted.
  void respond(Response response, RequestRecord record);
  // A generation takes over the response: respond() or the stream calls below end it.
  void attach(std::shared_ptr<ActiveGeneration> generation) { generation_ = std::move(generation); }
  void begin_event_stream();
  void send_event(const std::string& data);  // one "data: ..." event
  void send_event(const std::string& name, const std::string& data);  // "event: NAME" and "data: ..."
  // The last chunk: "data: [DONE]" first where `done_marker` (chat and completions streams; not the Responses API's).
  void end_event_stream(const RequestRecord& record, bool done_marker = true);

 private:
  void read_header();
  void on_header(beast::error_code error);
  void on_body(beast::error_code error);
  void on_read_error(beast::error_code error);
  void handle_request();
  void watch_for_disconnect();
  void on_watch(beast::error_code error, size_t bytes);
  void queue(std::string bytes);
  void write_queued();
  void on_written(beast::error_code error);
  void finish_response(const RequestRecord& record, int status);
  void after_response();
  void close();

  beast::tcp_stream stream_;
  ServerState& state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<ActiveGeneration> generation_;
  std::string outbox_;   // bytes waiting for the write in flight
  std::string writing_;  // bytes of the write in flight
  bool write_in_flight_ = false;
  bool watching_ = false;          // the disconnect watch's read is pending
  bool response_done_ = false;     // every byte of the current response is queued
  bool keep_alive_ = false;
  bool closed_ = false;
  bool first_request_ = true;
  bool request_in_flight_ = false;  // counted in state_.responses_in_flight
  std::chrono::steady_clock::time_point request_start_;  // when the current request was read
};

// Runs the route the request names (routes.cpp).
void route_request(HttpSession& session, HttpRequest request, RequestRecord record);

}  // namespace hearth::server
