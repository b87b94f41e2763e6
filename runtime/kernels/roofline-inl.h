//===- roofline-inl.h - per-target bandwidth and FMA probes -----*- C++ -*-===//
//
// The two loops `tessel bench` measures the machine with, so its roofline
// fractions are against this CPU as it is now, not a datasheet:
//  - ReadSum streams a buffer with plain vector loads into four
//    accumulators (a GEMV's access pattern without the arithmetic);
//  - FmaChains runs independent MulAdd chains, enough of them to cover the
//    FMA latency on two ports (AVX-512: 4 cycles x 2 ports = 8 in flight;
//    12 leaves headroom), on registers only.
//
//===----------------------------------------------------------------------===//
#if defined(TESSEL_RUNTIME_KERNELS_ROOFLINE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_ROOFLINE_INL_H_
#undef TESSEL_RUNTIME_KERNELS_ROOFLINE_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_ROOFLINE_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

/// The sum of x[0, n) (n a multiple of 4 vectors); the result keeps the
/// loads from being optimised away.
HWY_INLINE float ReadSumImpl(const float *HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    a0 = hn::Add(a0, hn::LoadU(d, x + i));
    a1 = hn::Add(a1, hn::LoadU(d, x + i + L));
    a2 = hn::Add(a2, hn::LoadU(d, x + i + 2 * L));
    a3 = hn::Add(a3, hn::LoadU(d, x + i + 3 * L));
  }
  float rest = 0;
  for (; i < n; ++i)
    rest += x[i];
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)))) + rest;
}

/// Runs `iterations` rounds of 12 independent FMAs per lane; returns the
/// FLOPs done (2 per lane per FMA) and writes a checksum to `sink`.
HWY_INLINE double FmaChainsImpl(int64_t iterations, float *sink) {
  const hn::ScalableTag<float> d;
  const auto m = hn::Set(d, 0.999999f), c = hn::Set(d, 1e-7f);
  auto v0 = hn::Set(d, 1.0f), v1 = hn::Set(d, 1.1f), v2 = hn::Set(d, 1.2f), v3 = hn::Set(d, 1.3f),
       v4 = hn::Set(d, 1.4f), v5 = hn::Set(d, 1.5f), v6 = hn::Set(d, 1.6f), v7 = hn::Set(d, 1.7f),
       v8 = hn::Set(d, 1.8f), v9 = hn::Set(d, 1.9f), v10 = hn::Set(d, 2.0f), v11 = hn::Set(d, 2.1f);
  for (int64_t i = 0; i < iterations; ++i) {
    v0 = hn::MulAdd(v0, m, c);
    v1 = hn::MulAdd(v1, m, c);
    v2 = hn::MulAdd(v2, m, c);
    v3 = hn::MulAdd(v3, m, c);
    v4 = hn::MulAdd(v4, m, c);
    v5 = hn::MulAdd(v5, m, c);
    v6 = hn::MulAdd(v6, m, c);
    v7 = hn::MulAdd(v7, m, c);
    v8 = hn::MulAdd(v8, m, c);
    v9 = hn::MulAdd(v9, m, c);
    v10 = hn::MulAdd(v10, m, c);
    v11 = hn::MulAdd(v11, m, c);
  }
  auto s =
      hn::Add(hn::Add(hn::Add(v0, v1), hn::Add(v2, v3)), hn::Add(hn::Add(v4, v5), hn::Add(v6, v7)));
  s = hn::Add(s, hn::Add(hn::Add(v8, v9), hn::Add(v10, v11)));
  *sink = hn::GetLane(hn::SumOfLanes(d, s));
  return 2.0 * 12.0 * static_cast<double>(hn::Lanes(d)) * static_cast<double>(iterations);
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // include guard
