#include "kernels/cpu/thread_pool.h"

#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace hearth::kernels::cpu {
namespace {

constexpr uint64_t kStopping = ~uint64_t{0};
// How long a thread spins before it sleeps: longer than the gap between two operations of a forward pass, short
// enough that an idle pool gives its cores back at once to anyone else.
constexpr auto kSpin = std::chrono::microseconds(200);

void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

// Waits until `value` differs from `old`: spins for kSpin, then sleeps on it, counted in `sleepers` so that the
// writer knows to wake it. Returns the new value.
template <typename T>
T wait_for_change(const std::atomic<T>& value, T old, std::atomic<int>& sleepers) {
  const auto give_up = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    const T now = value.load(std::memory_order_acquire);
    if (now != old) return now;
    cpu_relax();
    if (i % 64 == 63 && std::chrono::steady_clock::now() > give_up) break;
  }
  for (;;) {
    // seq_cst on both sides: either the writer sees this sleeper and notifies, or wait() sees the new value.
    sleepers.fetch_add(1);
    value.wait(old);
    sleepers.fetch_sub(1);
    const T now = value.load(std::memory_order_acquire);
    if (now != old) return now;
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  const int workers = n_threads > 1 ? n_threads - 1 : 0;
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this, i] { worker_loop(i + 1); });
}

ThreadPool::~ThreadPool() {
  generation_.store(kStopping);
  generation_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::run_tasks(int thread) {
  // Tasks are claimed one at a time so uneven tasks still balance across threads.
  for (int64_t task = next_task_.fetch_add(1); task < n_tasks_; task = next_task_.fetch_add(1)) {
    try {
      (*task_)(task, thread);
    } catch (...) {
      std::lock_guard lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      next_task_.store(n_tasks_);  // stop handing out the rest
    }
  }
}

void ThreadPool::worker_loop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    seen = wait_for_change(generation_, seen, sleepers_);
    if (seen == kStopping) return;
    run_tasks(thread);
    if (busy_workers_.fetch_sub(1) == 1 && sleepers_.load() > 0) busy_workers_.notify_all();
  }
}

void ThreadPool::parallel_for(int64_t n_tasks, const Task& fn) {
  if (n_tasks <= 0) return;
  if (workers_.empty() || n_tasks == 1) {
    for (int64_t task = 0; task < n_tasks; ++task) fn(task, 0);
    return;
  }
  task_ = &fn;
  n_tasks_ = n_tasks;
  error_ = nullptr;
  next_task_.store(0);
  busy_workers_.store(static_cast<int>(workers_.size()));
  generation_.fetch_add(1);  // publishes the fields above to the workers that see the new generation
  if (sleepers_.load() > 0) generation_.notify_all();
  run_tasks(0);
  for (int busy = busy_workers_.load(); busy != 0; busy = busy_workers_.load()) {
    wait_for_change(busy_workers_, busy, sleepers_);
  }
  task_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

}  // namespace hearth::kernels::cpu
