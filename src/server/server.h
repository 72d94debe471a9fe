// `hearth serve`'s HTTP server: OpenAI-compatible endpoints over Boost.Beast on one or two io threads.
//
//   Server server(options);                 // binds and listens; /health answers 503 "loading" from here on
//   server.start();                          // io threads running
//   server.set_engine(std::make_shared<Engine>(...));  // the model is loaded: generation routes open
//   server.wait_for_stop_signal();           // SIGINT / SIGTERM
//   server.shutdown(grace);                  // stop accepting, let requests finish, stop
//
// Connections are asynchronous, so idle and slow clients cost a socket and a little memory, never a thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/request_log.h"

namespace hearth::server {

class Engine;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see Server::port())
  std::vector<std::string> api_keys;  // empty: no authentication
  uint64_t max_body_bytes = 8u << 20;
  int32_t max_connections = 4096;
  int32_t io_threads = 2;
  std::chrono::seconds header_timeout{10};  // to send a request's headers
  std::chrono::seconds body_timeout{60};    // to send its body
  std::chrono::seconds idle_timeout{30};    // between requests on a keep-alive connection
  LogFormat log_format = LogFormat::text;
};

class Server {
 public:
  // Binds and listens (std::system_error when the address is taken or invalid).
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;  // the bound port
  void start();           // runs the io threads
  void set_engine(std::shared_ptr<Engine> engine);
  // Blocks until SIGINT or SIGTERM (installed by start()).
  void wait_for_stop_signal();
  // Stops accepting, lets in-flight requests finish for up to `grace` (then cancels them), answers their last bytes,
  // and joins the io threads.
  void shutdown(std::chrono::milliseconds grace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::server
