// What every connection of one server shares: the options, the metrics, the engine once the model is loaded, and
// the counts that shutdown and the connection cap look at.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "server/engine.h"
#include "server/metrics.h"
#include "server/server.h"

namespace hearth::server {

struct ServerState {
  explicit ServerState(ServerOptions server_options) : options(std::move(server_options)) {}

  std::shared_ptr<Engine> engine() const {
    const std::lock_guard lock(engine_mutex);
    return engine_;
  }
  void set_engine(std::shared_ptr<Engine> engine) {
    const std::lock_guard lock(engine_mutex);
    engine_ = std::move(engine);
  }
  void reset_engine() { set_engine(nullptr); }

  const ServerOptions options;
  Metrics metrics;
  std::atomic<uint64_t> next_request_id{1};
  std::atomic<int32_t> connections{0};
  std::atomic<int32_t> responses_in_flight{0};  // requests read whose response is not fully written yet

 private:
  mutable std::mutex engine_mutex;
  std::shared_ptr<Engine> engine_;
};

}  // namespace hearth::server
