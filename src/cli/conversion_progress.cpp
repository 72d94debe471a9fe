#include "cli/conversion_progress.h"

#include <cstdio>
#include <exception>
#include <thread>

#include <fmt/format.h>

#include "model/quantize.h"

namespace hearth::cli {
namespace {

std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the flag is set from a signal handler");

extern "C" void raise_interrupt_flag(int) { interrupted.store(true); }

}  // namespace

InterruptGuard::InterruptGuard() {
  interrupted.store(false);
  previous_int_ = std::signal(SIGINT, raise_interrupt_flag);
  previous_term_ = std::signal(SIGTERM, raise_interrupt_flag);
}

InterruptGuard::~InterruptGuard() {
  std::signal(SIGINT, previous_int_ == SIG_ERR ? SIG_DFL : previous_int_);
  std::signal(SIGTERM, previous_term_ == SIG_ERR ? SIG_DFL : previous_term_);
}

const std::atomic<bool>& InterruptGuard::flag() const { return interrupted; }

int default_threads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

std::string file_type_list() {
  std::string names;
  for (model::FileType type : model::all_file_types()) {
    names += (names.empty() ? "" : ", ") + std::string(model::file_type_name(type));
  }
  return names;
}

std::string human_size(uint64_t bytes) {
  if (bytes >= (1ull << 30)) return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1ull << 30));
  if (bytes >= (1ull << 20)) return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / (1ull << 20));
  return fmt::format("{} bytes", bytes);
}

void print_tensor_progress(size_t index, size_t count, const std::string& name, TensorType from, TensorType to) {
  const int width = static_cast<int>(std::to_string(count).size());
  std::fprintf(stderr, "[%*zu/%zu] %-36s %6s -> %s\n", width, index + 1, count, name.c_str(),
               std::string(type_name(from)).c_str(), std::string(type_name(to)).c_str());
}

int run_reporting_errors(const char* command, const std::function<void()>& body) {
  try {
    body();
    return 0;
  } catch (const model::Cancelled&) {
    std::fprintf(stderr, "hearth %s: interrupted; nothing was written\n", command);
    return 130;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "hearth %s: %s\n", command, e.what());
    return 1;
  }
}

}  // namespace hearth::cli
