//===- ThreadPool.h - a small persistent fork-join pool ---------*- C++ -*-===//
//
// The kernels split work across a handful of cores (two on the build machine).
// Creating threads per call costs tens of microseconds, as much as a whole
// decode-step GEMV on a small model, so the workers are created once and park
// between calls: they spin for a short while (a decode loop calls back within
// microseconds) and then sleep on a condition variable.
//
// run(n, f) calls f(task) for every task in [0, n), the caller taking part,
// and returns when all are done. Tasks are handed out dynamically through an
// atomic counter (uneven tasks: causal attention blocks). runPinned(n, f)
// gives task t to thread t % numThreads() instead, so that a GEMV's rows or
// a KV cache's heads stay with the core whose caches already hold them.
// A run issued while the pool is already running (from inside a task, or
// from another thread) executes its tasks serially on the calling thread
// instead of deadlocking, so kernels may be nested freely. Tasks must
// therefore not rely on running on distinct threads; per-thread scratch
// memory is thread_local in the kernels, never indexed by a worker number.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_KERNELS_THREADPOOL_H
#define TESSEL_RUNTIME_KERNELS_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace tessel::kernels {

class ThreadPool {
public:
  /// `numThreads` counts the caller: 1 creates no worker at all.
  explicit ThreadPool(int numThreads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int numThreads() const { return static_cast<int>(workers_.size()) + 1; }

  /// Calls `func(task)` for each task in [0, numTasks); blocks until done.
  /// Tasks go to whichever thread is free (good for uneven tasks).
  template <class Func> void run(int64_t numTasks, const Func &func) {
    runErased(numTasks, /*pinned=*/false, &func,
              [](const void *f, int64_t task) { (*static_cast<const Func *>(f))(task); });
  }

  /// Like run(), but task t always runs on thread t % numThreads() (the
  /// caller is thread 0). For even tasks over the same data call after
  /// call, such as a split of a weight matrix or of a KV cache: each core
  /// then finds its share in its own caches again.
  template <class Func> void runPinned(int64_t numTasks, const Func &func) {
    runErased(numTasks, /*pinned=*/true, &func,
              [](const void *f, int64_t task) { (*static_cast<const Func *>(f))(task); });
  }

  /// The pool behind the C ABI: TESSEL_NUM_THREADS threads if that is set,
  /// else one per hardware thread.
  static ThreadPool &global();
  /// Replaces the global pool (0 = the default size). Must not race with a
  /// kernel that is running on it.
  static void setGlobalThreads(int numThreads);

private:
  using Erased = void (*)(const void *, int64_t);
  void runErased(int64_t numTasks, bool pinned, const void *ctx, Erased call);
  void workerLoop(int index);
  void drain(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> busy_{false};
  bool stop_ = false; // guarded by mutex_
  // The job being run; written before generation_ is bumped (release).
  const void *ctx_ = nullptr;
  Erased call_ = nullptr;
  int64_t numTasks_ = 0;
  bool pinned_ = false;
  std::atomic<int64_t> next_{0};
  std::atomic<int> pending_{0}; // workers still inside the current job
};

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_THREADPOOL_H
