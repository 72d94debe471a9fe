// Shared by the commands that write whole models (quantize, synth): progress lines, Ctrl-C handling, errors.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdint>
#include <functional>
#include <string>

#include "hearth/tensor_type.h"

namespace hearth::cli {

// While alive, SIGINT and SIGTERM raise flag() instead of killing the process, so a conversion can stop
// between chunks and remove its temporary file. The previous handlers come back on destruction.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  const std::atomic<bool>& flag() const;

 private:
  using Handler = void (*)(int);
  Handler previous_int_;
  Handler previous_term_;
};

int default_threads();
std::string file_type_list();
std::string human_size(uint64_t bytes);
// "[ 12/147] blk.0.attn_q.weight                f16 -> q4_K" on stderr.
void print_tensor_progress(size_t index, size_t count, const std::string& name, TensorType from, TensorType to);
// Runs `body`; prints "hearth COMMAND: error" for exceptions. Returns the exit code (130 when interrupted).
int run_reporting_errors(const char* command, const std::function<void()>& body);

}  // namespace hearth::cli
