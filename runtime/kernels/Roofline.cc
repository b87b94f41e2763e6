//===- Roofline.cc - measured read bandwidth and FMA peak -----------------===//
//
// Policy for the probes in roofline-inl.h: buffer size, threads, repeats,
// and timing. Each figure is the best of several runs (the machine is
// shared; the best run is the one least disturbed).
//
//===----------------------------------------------------------------------===//
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/Roofline.cc"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "runtime/kernels/roofline-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {

float ReadSum(const float *x, int64_t n) { return ReadSumImpl(x, n); }
double FmaChains(int64_t iterations, float *sink) { return FmaChainsImpl(iterations, sink); }

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include <sys/mman.h>

#include <cstdint>

#include "hwy/aligned_allocator.h"
#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/ThreadPool.h"

namespace tessel::kernels {
HWY_EXPORT(ReadSum);
HWY_EXPORT(FmaChains);

namespace {
double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
// Keeps the probes' results observable (the compiler cannot drop the loops).
std::atomic<uint32_t> sinkBits{0};
void keep(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  sinkBits.fetch_xor(bits, std::memory_order_relaxed);
}
} // namespace

} // namespace tessel::kernels

extern "C" double tessel_measure_read_gbps(int64_t bytes, int64_t reps) {
  using namespace tessel::kernels;
  const int64_t n = std::max<int64_t>(bytes / sizeof(float), 1 << 16);
  // On 2 MiB pages, as the runtime places weights (runtime/Weights.h): on
  // 4 KiB pages the stream restarts at every page and the probe read ~25 %
  // below what the GEMV kernels then reached on huge pages. One extra huge
  // page aligns the start; the advice is only advice.
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t mapped = static_cast<size_t>(n) * sizeof(float) + kHuge;
  void *raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    return 0;
  float *buffer =
      reinterpret_cast<float *>((reinterpret_cast<uintptr_t>(raw) + kHuge - 1) / kHuge * kHuge);
  madvise(buffer, static_cast<size_t>(n) * sizeof(float), MADV_HUGEPAGE);
  ThreadPool &pool = ThreadPool::global();
  const int64_t threads = pool.numThreads(), chunk = (n + threads - 1) / threads;
  // Touch every page first (on the threads that will read it).
  pool.runPinned(threads, [&](int64_t t) {
    for (int64_t i = t * chunk; i < std::min(n, (t + 1) * chunk); ++i)
      buffer[i] = 1.0f;
  });
  double best = 0;
  for (int64_t r = 0; r < std::max<int64_t>(reps, 1); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    pool.runPinned(threads, [&](int64_t t) {
      const int64_t begin = t * chunk,
                    count = std::max<int64_t>(std::min(n, begin + chunk) - begin, 0);
      float s = HWY_DYNAMIC_DISPATCH(ReadSum)(buffer + begin, count);
      keep(s);
    });
    best = std::max(best, static_cast<double>(n) * sizeof(float) / secondsSince(t0) / 1e9);
  }
  munmap(raw, mapped);
  return best;
}

extern "C" double tessel_measure_fma_gflops(int64_t threads, int64_t reps) {
  using namespace tessel::kernels;
  ThreadPool &pool = ThreadPool::global();
  const int64_t used = std::clamp<int64_t>(threads, 1, pool.numThreads());
  constexpr int64_t kIterations = 20'000'000; // ~0.1 s per thread at ~2 GHz
  double best = 0;
  for (int64_t r = 0; r < std::max<int64_t>(reps, 1); ++r) {
    std::atomic<double> flops{0};
    auto t0 = std::chrono::steady_clock::now();
    pool.runPinned(pool.numThreads(), [&](int64_t t) {
      if (t >= used)
        return;
      float sink = 0;
      double f = HWY_DYNAMIC_DISPATCH(FmaChains)(kIterations, &sink);
      keep(sink);
      double old = flops.load();
      while (!flops.compare_exchange_weak(old, old + f)) {
      }
    });
    best = std::max(best, flops.load() / secondsSince(t0) / 1e9);
  }
  return best;
}
#endif // HWY_ONCE
