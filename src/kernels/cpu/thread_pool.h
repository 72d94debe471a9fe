// A small fixed pool of worker threads for data-parallel kernels: parallel_for(n, fn) runs fn over [0, n)
// on every thread (the caller included) and returns when all tasks are done.
//
// A forward pass calls parallel_for hundreds of times per token, often for a few microseconds of work each, so the
// hand-offs must cost far less than that: workers spin on an atomic generation counter for a short while after
// each call (the next one usually comes within microseconds) and only then sleep on it (a futex through
// std::atomic::wait); the caller spins the same way on the count of workers still busy. A sleeping thread is woken
// only when one is known to sleep, so a busy pool makes no system calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
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
  const Task* task_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  std::atomic<uint64_t> generation_{0};  // bumped once per parallel_for; ~0 tells the workers to stop
  std::atomic<int> busy_workers_{0};
  std::atomic<int> sleepers_{0};  // threads blocked in a futex wait on generation_ or busy_workers_
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace hearth::kernels::cpu
