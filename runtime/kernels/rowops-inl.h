//===- rowops-inl.h - per-target helpers over one row -----------*- C++ -*-===//
//
// Small vector loops shared by softmax, the norms and the attention tile.
// Tails (fewer than one vector) are scalar: correct on every target without
// masked loads, which SSE4 and EMU128 emulate by reading the whole vector.
// Scalar multiply-adds in tails go through MulAddLane, never `s += x * y`.
//
//===----------------------------------------------------------------------===//
#if defined(TESSEL_RUNTIME_KERNELS_ROWOPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_ROWOPS_INL_H_
#undef TESSEL_RUNTIME_KERNELS_ROWOPS_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_ROWOPS_INL_H_
#endif

#include <cmath>
#include <cstdint>
#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;

// a * b + c for one float, by hn::MulAdd: one rounding where the target has
// FMA, like the vector lanes. Why not `c + a * b`: the compiler may contract
// that into an FMA or not (GCC's default -ffp-contract=fast), and decides
// per inlined copy, so the same source could round differently in two
// kernels; the fused kernels promise the unfused kernels' bits.
HWY_INLINE float MulAddLane(float a, float b, float c) {
  const hn::CappedTag<float, 1> d1;
  return hn::GetLane(hn::MulAdd(hn::Set(d1, a), hn::Set(d1, b), hn::Set(d1, c)));
}

// y = x * s (in place is fine).
HWY_INLINE void ScaleRow(const float *x, int64_t n, float s, float *y) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto vs = hn::Set(d, s);
  int64_t i = 0;
  for (; i + L <= n; i += L)
    hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vs), d, y + i);
  for (; i < n; ++i)
    y[i] = x[i] * s;
}

// max_i x[i]; -inf for an empty row.
HWY_INLINE float MaxRow(const float *x, int64_t n) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  float m = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  if (n >= L) {
    auto vm = hn::LoadU(d, x);
    for (i = L; i + L <= n; i += L)
      vm = hn::Max(vm, hn::LoadU(d, x + i));
    m = hn::GetLane(hn::MaxOfLanes(d, vm));
  }
  for (; i < n; ++i)
    m = x[i] > m ? x[i] : m;
  return m;
}

// y = exp(x - m), returns sum(y). Lanes with x = -inf give exactly 0
// (hn::Exp returns 0 below -104), which is how masked keys drop out.
HWY_INLINE float ExpSubSum(const float *x, int64_t n, float m, float *y) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto vm = hn::Set(d, m);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto e0 = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vm));
    const auto e1 = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i + L), vm));
    hn::StoreU(e0, d, y + i);
    hn::StoreU(e1, d, y + i + L);
    s0 = hn::Add(s0, e0);
    s1 = hn::Add(s1, e1);
  }
  for (; i + L <= n; i += L) {
    const auto e0 = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vm));
    hn::StoreU(e0, d, y + i);
    s0 = hn::Add(s0, e0);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i)
    sum += (y[i] = std::exp(x[i] - m));
  return sum;
}

// sum_i x[i]^2 with four accumulators (pairwise-ish, ~sqrt(n) ulp error).
HWY_INLINE float SumSquares(const float *x, int64_t n) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    const auto x0 = hn::LoadU(d, x + i), x1 = hn::LoadU(d, x + i + L);
    const auto x2 = hn::LoadU(d, x + i + 2 * L), x3 = hn::LoadU(d, x + i + 3 * L);
    a0 = hn::MulAdd(x0, x0, a0);
    a1 = hn::MulAdd(x1, x1, a1);
    a2 = hn::MulAdd(x2, x2, a2);
    a3 = hn::MulAdd(x3, x3, a3);
  }
  for (; i + L <= n; i += L) {
    const auto x0 = hn::LoadU(d, x + i);
    a0 = hn::MulAdd(x0, x0, a0);
  }
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i)
    s = MulAddLane(x[i], x[i], s);
  return s;
}

// sum_i (x[i] - c)^2.
HWY_INLINE float SumSquaresCentered(const float *x, int64_t n, float c) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto vc = hn::Set(d, c);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto x0 = hn::Sub(hn::LoadU(d, x + i), vc);
    const auto x1 = hn::Sub(hn::LoadU(d, x + i + L), vc);
    a0 = hn::MulAdd(x0, x0, a0);
    a1 = hn::MulAdd(x1, x1, a1);
  }
  for (; i + L <= n; i += L) {
    const auto x0 = hn::Sub(hn::LoadU(d, x + i), vc);
    a0 = hn::MulAdd(x0, x0, a0);
  }
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
  for (; i < n; ++i)
    s = MulAddLane(x[i] - c, x[i] - c, s);
  return s;
}

// sum_i (x[i] - c). Shifting by a sample of the row (LayerNorm passes x[0])
// keeps the partial sums small: summing 4096 values near 1000 directly in
// f32 loses ~1e-4 of the mean, as much as the spread being normalised.
HWY_INLINE float SumShifted(const float *x, int64_t n, float c) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto vc = hn::Set(d, c);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    a0 = hn::Add(a0, hn::Sub(hn::LoadU(d, x + i), vc));
    a1 = hn::Add(a1, hn::Sub(hn::LoadU(d, x + i + L), vc));
  }
  for (; i + L <= n; i += L)
    a0 = hn::Add(a0, hn::Sub(hn::LoadU(d, x + i), vc));
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
  for (; i < n; ++i)
    s += x[i] - c;
  return s;
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_ROWOPS_INL_H_
