#include "server/http_session.h"

#include <fmt/format.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>

namespace hearth::server {
namespace {

constexpr size_t kHeaderLimit = 16 * 1024;
// A client that stops reading its stream while tokens keep coming is cut off past this much unsent output.
constexpr size_t kMaxUnsentBytes = 8u << 20;
constexpr auto kWriteTimeout = std::chrono::seconds(60);

std::string status_line(int status) {
  return fmt::format("HTTP/1.1 {} {}\r\n", status, view(http::obsolete_reason(static_cast<http::status>(status))));
}

std::string chunk(std::string_view data) { return fmt::format("{:x}\r\n{}\r\n", data.size(), data); }

}  // namespace

Response json_response(int status, const json& body) {
  Response response;
  response.status = status;
  response.body = to_text(body) + "\n";
  return response;
}

Response error_response(const ApiError& error) {
  Response response = json_response(error.status(), error.body());
  if (error.status() == 503) response.headers.emplace_back("Retry-After", "1");
  return response;
}

HttpSession::HttpSession(net::ip::tcp::socket socket, ServerState& state) : stream_(std::move(socket)), state_(state) {
  ++state_.connections;
}

HttpSession::~HttpSession() {
  if (request_in_flight_) --state_.responses_in_flight;
  --state_.connections;
}

void HttpSession::start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
}

void HttpSession::read_header() {
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(state_.options.max_body_bytes);
  // The whole header must come within the timeout, however slowly its bytes trickle in (slowloris).
  stream_.expires_after(first_request_ ? state_.options.header_timeout : state_.options.idle_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code error, size_t) { self->on_header(error); });
}

void HttpSession::on_header(beast::error_code error) {
  if (error) return on_read_error(error);
  first_request_ = false;
  if (parser_->is_done()) return handle_request();
  if (const auto expect = parser_->get()[http::field::expect]; beast::iequals(expect, "100-continue")) {
    queue("HTTP/1.1 100 Continue\r\n\r\n");
  }
  stream_.expires_after(state_.options.body_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code error, size_t) { self->on_body(error); });
}

void HttpSession::on_body(beast::error_code error) {
  if (error) return on_read_error(error);
  handle_request();
}

void HttpSession::on_read_error(beast::error_code error) {
  const auto refuse = [this](int status, const std::string& message, const char* route) {
    request_start_ = std::chrono::steady_clock::now();
    keep_alive_ = false;
    request_in_flight_ = true;
    ++state_.responses_in_flight;
    RequestRecord record;
    record.id = state_.next_request_id++;
    record.method = "-";
    record.route = route;
    respond(error_response(ApiError(status, message, "invalid_request_error")), record);
  };
  if (error == http::error::body_limit) {
    return refuse(413, fmt::format("the request body is larger than {} bytes", state_.options.max_body_bytes),
                  "-");
  }
  if (error == http::error::header_limit) return refuse(431, "the request headers are too large", "-");
  // A clean close between requests, a timeout or a reset: nothing to answer.
  if (error == http::error::end_of_stream || error == beast::error::timeout || error == net::error::operation_aborted ||
      error == net::error::connection_reset || error == net::error::eof || error == http::error::partial_message) {
    return close();
  }
  refuse(400, fmt::format("malformed HTTP request: {}", error.message()), "-");
}

void HttpSession::handle_request() {
  stream_.expires_never();  // a generation may take longer than any read timeout; writes set their own
  request_start_ = std::chrono::steady_clock::now();
  HttpRequest request = parser_->release();
  keep_alive_ = request.keep_alive();
  request_in_flight_ = true;
  ++state_.responses_in_flight;
  RequestRecord record;
  record.id = state_.next_request_id++;
  record.method = std::string(view(request.method_string()));
  watch_for_disconnect();
  route_request(*this, std::move(request), std::move(record));
}

void HttpSession::watch_for_disconnect() {
  // Bytes of a next (pipelined) request are already here: after_response reads them, and a client that sent
  // them and left is noticed when a write fails.
  if (watching_ || closed_ || buffer_.size() > 0) return;
  watching_ = true;
  stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code error, size_t bytes) {
    self->on_watch(error, bytes);
  });
}

void HttpSession::on_watch(beast::error_code error, size_t bytes) {
  watching_ = false;
  if (error) {
    // The client is gone (or the idle timeout ran out after a response): stop its generation now.
    if (generation_) generation_->cancel();
    return close();
  }
  buffer_.commit(bytes);
  // The bytes are the next request. Before the response is done, after_response reads it (the client may send it
  // as soon as it has the response, before on_written runs here); after, it is read now.
  if (!request_in_flight_) read_header();
}

void HttpSession::respond(Response response, RequestRecord record) {
  std::string bytes = status_line(response.status);
  bytes += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n", response.content_type,
                       response.body.size(), keep_alive_ ? "keep-alive" : "close");
  for (const auto& [name, value] : response.headers) bytes += name + ": " + value + "\r\n";
  bytes += "\r\n";
  bytes += response.body;
  queue(std::move(bytes));
  finish_response(record, response.status);
}

void HttpSession::begin_event_stream() {
  queue(status_line(200) +
        fmt::format("Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
                    "Connection: {}\r\n\r\n",
                    keep_alive_ ? "keep-alive" : "close"));
}

void HttpSession::send_event(const std::string& data) { queue(chunk("data: " + data + "\n\n")); }

void HttpSession::send_event(const std::string& name, const std::string& data) {
  queue(chunk("event: " + name + "\ndata: " + data + "\n\n"));
}

void HttpSession::end_event_stream(const RequestRecord& record, bool done_marker) {
  queue((done_marker ? chunk("data: [DONE]\n\n") : std::string()) + "0\r\n\r\n");
  finish_response(record, 200);
}

void HttpSession::finish_response(const RequestRecord& record, int status) {
  generation_.reset();
  response_done_ = true;
  state_.metrics.count_request(record.route, status);
  RequestRecord logged = record;
  logged.status = status;
  if (logged.duration_ms == 0) {  // a generation reports its own; other routes' time is measured here
    logged.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request_start_).count();
  }
  log_request(state_.options.log_format, logged);
  if (!write_in_flight_ && outbox_.empty()) after_response();
}

void HttpSession::queue(std::string bytes) {
  if (closed_) return;
  outbox_ += bytes;
  if (outbox_.size() > kMaxUnsentBytes) {
    if (generation_) generation_->cancel();
    return close();
  }
  write_queued();
}

void HttpSession::write_queued() {
  if (write_in_flight_ || outbox_.empty() || closed_) return;
  write_in_flight_ = true;
  writing_ = std::move(outbox_);
  outbox_.clear();
  stream_.expires_after(kWriteTimeout);
  net::async_write(stream_, net::buffer(writing_),
                   [self = shared_from_this()](beast::error_code error, size_t) { self->on_written(error); });
}

void HttpSession::on_written(beast::error_code error) {
  write_in_flight_ = false;
  if (error) {
    if (generation_) generation_->cancel();
    return close();
  }
  if (!outbox_.empty()) return write_queued();
  if (response_done_) return after_response();
  if (request_in_flight_) stream_.expires_never();  // a generation between tokens (else a body read's timer runs)
}

void HttpSession::after_response() {
  response_done_ = false;
  if (request_in_flight_) {
    request_in_flight_ = false;
    --state_.responses_in_flight;
  }
  if (!keep_alive_) return close();
  stream_.expires_after(state_.options.idle_timeout);
  // With the disconnect watch still pending (nothing of a next request came yet), its bytes (or its end) lead to
  // the next request.
  if (!watching_) read_header();
}

void HttpSession::close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  stream_.socket().close(ignored);
}

}  // namespace hearth::server
