// A small fixed pool of worker threads for data-parallel kernels: parallel_for(n, fn) runs fn over [0, n)
// on every thread (the caller included) and returns when all tasks are done.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth::kernels::cpu {

class ThreadPool {
 public:
  // `n_threads` counts the calling thread: 1 runs everything inline. Values below 1 mean 1.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(task, thread) for every task in [0, n_tasks); `thread` in [0, size()) identifies the executing
  // thread so callers can hand each one its own scratch memory. Not reentrant: one parallel_for at a time.
  // An exception thrown by fn is rethrown here after all threads have stopped working on this call.
  using Task = std::function<void(int64_t task, int thread)>;
  void parallel_for(int64_t n_tasks, const Task& fn);

 private:
  void worker_loop(int thread);
  void run_tasks(int thread);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const Task* task_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  int busy_workers_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace hearth::kernels::cpu
