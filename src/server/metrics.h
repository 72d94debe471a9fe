// Counters and histograms for GET /metrics, in Prometheus' text exposition format. Updated from the io threads.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "hearth/scheduler.h"

namespace hearth::server {

class Metrics {
 public:
  void count_request(const std::string& route, int status);
  void count_tokens(int64_t prompt, int64_t cached, int64_t generated);
  void observe_time_to_first_token(double seconds);
  void observe_inter_token_latency(double seconds);

  // Everything so far, plus the scheduler's gauges when a model is loaded.
  std::string render(const std::optional<SchedulerStats>& scheduler) const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // not cumulative; summed when rendered
    uint64_t count = 0;
    double sum = 0;
    void observe(double seconds);
    void render(std::string& out, const char* name, const char* help) const;
  };

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0;
  uint64_t cached_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
  Histogram time_to_first_token_;
  Histogram inter_token_latency_;
};

}  // namespace hearth::server
