#include "server/server.h"

#include <sys/resource.h>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>

#include "server/http_session.h"

namespace hearth::server {
namespace {

// Each connection is a file descriptor: the soft limit goes up to the hard one so that the connection cap, not
// the default of 1024, is what refuses clients. Returns the descriptors usable for connections.
int32_t raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  constexpr rlim_t kReserved = 64;  // the model file, the log, the listener and what libraries open
  const rlim_t usable = limit.rlim_cur > kReserved ? limit.rlim_cur - kReserved : 1;
  return static_cast<int32_t>(std::min<rlim_t>(usable, std::numeric_limits<int32_t>::max()));
}

}  // namespace

struct Server::Impl {
  explicit Impl(ServerOptions options)
      : state(std::move(options)),
        max_connections(std::min(state.options.max_connections, raise_descriptor_limit())),
        acceptor(io),
        signals(io, SIGINT, SIGTERM) {
    const net::ip::tcp::endpoint endpoint(net::ip::make_address(state.options.host), state.options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
  }

  void accept() {
    acceptor.async_accept(net::make_strand(io), [this](beast::error_code error, net::ip::tcp::socket socket) {
      if (error == net::error::operation_aborted || !acceptor.is_open()) return;
      if (!error) {
        if (state.connections.load() >= max_connections) {
          beast::error_code ignored;
          socket.close(ignored);  // over the cap: refused at once rather than left waiting
        } else {
          std::make_shared<HttpSession>(std::move(socket), state)->start();
        }
      }
      accept();  // errors like EMFILE concern one connection, not the listener
    });
  }

  void wait_for_signal() {
    signals.async_wait([this](beast::error_code error, int) {
      if (error) return;
      const std::lock_guard lock(stop_mutex);
      stop_requested = true;
      stop_signalled.notify_all();
    });
  }

  ServerState state;  // before io: connections that io's handlers still hold refer to it until io goes
  const int32_t max_connections;
  net::io_context io;
  net::ip::tcp::acceptor acceptor;
  net::signal_set signals;
  std::vector<std::thread> threads;
  std::mutex stop_mutex;
  std::condition_variable stop_signalled;
  bool stop_requested = false;
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  impl_->io.stop();
  for (std::thread& thread : impl_->threads) thread.join();
  // The scheduler goes while io is still there: what it finishes last is posted to it and never run.
  impl_->state.reset_engine();
}

uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::start() {
  impl_->accept();
  impl_->wait_for_signal();
  const int32_t count = std::max(1, impl_->state.options.io_threads);
  for (int32_t i = 0; i < count; ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
}

void Server::set_engine(std::shared_ptr<Engine> engine) { impl_->state.set_engine(std::move(engine)); }

void Server::wait_for_stop_signal() {
  std::unique_lock lock(impl_->stop_mutex);
  impl_->stop_signalled.wait(lock, [this] { return impl_->stop_requested; });
}

void Server::shutdown(std::chrono::milliseconds grace) {
  net::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  const auto deadline = std::chrono::steady_clock::now() + grace;
  if (const std::shared_ptr<Engine> engine = impl_->state.engine()) engine->scheduler().shutdown(grace);
  // The generations have finished; their last bytes (and other routes' answers) get until the deadline, or a
  // second at least, to reach their clients.
  const auto flush_deadline = std::max(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1));
  while (impl_->state.responses_in_flight.load() > 0 && std::chrono::steady_clock::now() < flush_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  impl_->io.stop();
  for (std::thread& thread : impl_->threads) thread.join();
  impl_->threads.clear();
}

}  // namespace hearth::server
