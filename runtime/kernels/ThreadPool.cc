//===- ThreadPool.cc - a small persistent fork-join pool ------------------===//
#include "runtime/kernels/ThreadPool.h"

#include <chrono>
#include <cstdlib>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TESSEL_CPU_RELAX() _mm_pause()
#else
#define TESSEL_CPU_RELAX() std::this_thread::yield()
#endif

namespace tessel::kernels {
namespace {

// How long a parked worker spins before sleeping: 100 us is longer than the
// gap between two kernel calls of one decode step (so a step's GEMVs never
// pay a futex wake-up, ~10-50 us) but short enough not to keep a core from
// other processes once the model is idle. Time-based because a pause
// instruction takes ~10 cycles on some CPUs and ~140 on others.
constexpr auto kSpinTime = std::chrono::microseconds(100);

int defaultThreads() {
  if (const char *env = std::getenv("TESSEL_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0)
      return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::mutex globalMutex;
std::unique_ptr<ThreadPool> globalPool;

} // namespace

ThreadPool::ThreadPool(int numThreads) {
  for (int i = 1; i < numThreads; ++i)
    workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

void ThreadPool::drain(int index) {
  if (pinned_) {
    for (int64_t task = index; task < numTasks_; task += numThreads())
      call_(ctx_, task);
    return;
  }
  for (;;) {
    int64_t task = next_.fetch_add(1, std::memory_order_relaxed);
    if (task >= numTasks_)
      return;
    call_(ctx_, task);
  }
}

void ThreadPool::runErased(int64_t numTasks, bool pinned, const void *ctx, Erased call) {
  if (numTasks <= 0)
    return;
  bool expected = false;
  if (workers_.empty() || numTasks == 1 ||
      !busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
    for (int64_t t = 0; t < numTasks; ++t)
      call(ctx, t);
    return;
  }
  ctx_ = ctx;
  call_ = call;
  numTasks_ = numTasks;
  pinned_ = pinned;
  next_.store(0, std::memory_order_relaxed);
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  drain(0);
  while (pending_.load(std::memory_order_acquire) != 0)
    TESSEL_CPU_RELAX();
  busy_.store(false, std::memory_order_release);
}

void ThreadPool::workerLoop(int index) {
  // Generation 0 is the state at construction; a job may be published before
  // this thread first runs, so the thread must not read its start value.
  uint64_t seen = 0;
  for (;;) {
    uint64_t now = seen;
    const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
    for (int i = 1;; ++i) {
      now = generation_.load(std::memory_order_acquire);
      if (now != seen)
        break;
      TESSEL_CPU_RELAX();
      if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline)
        break;
    }
    if (now == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      now = generation_.load(std::memory_order_acquire);
    }
    seen = now;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_)
        return;
    }
    drain(index);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

ThreadPool &ThreadPool::global() {
  std::lock_guard<std::mutex> lock(globalMutex);
  if (!globalPool)
    globalPool = std::make_unique<ThreadPool>(defaultThreads());
  return *globalPool;
}

void ThreadPool::setGlobalThreads(int numThreads) {
  std::lock_guard<std::mutex> lock(globalMutex);
  globalPool = std::make_unique<ThreadPool>(numThreads > 0 ? numThreads : defaultThreads());
}

} // namespace tessel::kernels
