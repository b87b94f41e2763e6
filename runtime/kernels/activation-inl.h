//===- activation-inl.h - per-target softmax, SiLU, GELU --------*- C++ -*-===//
#if defined(TESSEL_RUNTIME_KERNELS_ACTIVATION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_ACTIVATION_INL_H_
#undef TESSEL_RUNTIME_KERNELS_ACTIVATION_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_ACTIVATION_INL_H_
#endif

#include <cmath>
#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "runtime/kernels/Internal.h"
#include "runtime/kernels/rowops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE void SoftmaxImpl(int64_t rows, int64_t n, const float *x, float *y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    const float m = MaxRow(xr, n);
    const float sum = ExpSubSum(xr, n, m, yr);
    ScaleRow(yr, n, 1.0f / sum, yr);
  }
}

// exp(-t) saturates to +inf past t = -88.7; clamping there keeps x / (1 + e)
// a clean (signed) zero instead of relying on Exp's behaviour past its range.
constexpr float kExpClamp = 88.0f;

// x * sigmoid(x) = x / (1 + exp(-x)).
template <class D, class V> HWY_INLINE V Silu(D d, V x) {
  const V e = hn::Exp(d, hn::Min(hn::Neg(x), hn::Set(d, kExpClamp)));
  return hn::Div(x, hn::Add(hn::Set(d, 1.0f), e));
}

// 0.5 x (1 + tanh(u)) = x * sigmoid(2u) = x / (1 + exp(-2u)),
// u = sqrt(2/pi) (x + 0.044715 x^3): no cancellation for negative x.
template <class D, class V> HWY_INLINE V GeluTanh(D d, V x) {
  const V x3 = hn::Mul(hn::Mul(x, x), x);
  const V u2 =
      hn::Mul(hn::Set(d, -2.0f * 0.7978845608028654f), hn::MulAdd(hn::Set(d, 0.044715f), x3, x));
  const V e = hn::Exp(d, hn::Min(u2, hn::Set(d, kExpClamp)));
  return hn::Div(x, hn::Add(hn::Set(d, 1.0f), e));
}

// 0.5 x erfc(-x / sqrt 2), with erfc from Numerical Recipes' erfcc
// (Chebyshev fit, fractional error < 1.2e-7 for every z >= 0):
//   erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2).
// For x >= 0, gelu = x - 0.5 x erfc(z); for x < 0, gelu = 0.5 x erfc(z),
// z = |x| / sqrt 2, so both tails keep their relative accuracy. z^2 = x^2/2
// is split into hi + lo with an FMA so that the exponent is exact.
template <class D, class V> HWY_INLINE V GeluErf(D d, V x) {
  const V ax = hn::Abs(x);
  const V z = hn::Mul(ax, hn::Set(d, 0.70710678118654752f));
  const V t = hn::Div(hn::Set(d, 1.0f), hn::MulAdd(hn::Set(d, 0.5f), z, hn::Set(d, 1.0f)));
  V p = hn::Set(d, 0.17087277f);
  p = hn::MulAdd(p, t, hn::Set(d, -0.82215223f));
  p = hn::MulAdd(p, t, hn::Set(d, 1.48851587f));
  p = hn::MulAdd(p, t, hn::Set(d, -1.13520398f));
  p = hn::MulAdd(p, t, hn::Set(d, 0.27886807f));
  p = hn::MulAdd(p, t, hn::Set(d, -0.18628806f));
  p = hn::MulAdd(p, t, hn::Set(d, 0.09678418f));
  p = hn::MulAdd(p, t, hn::Set(d, 0.37409196f));
  p = hn::MulAdd(p, t, hn::Set(d, 1.00002368f));
  p = hn::MulAdd(p, t, hn::Set(d, -1.26551223f));
  const V hi = hn::Mul(x, x);
  const V lo = hn::MulSub(x, x, hi); // exact residual where FMA exists, else 0
  const V half = hn::Set(d, 0.5f);
  const V arg = hn::NegMulAdd(half, hi, p);
  // exp(-lo/2) ~ 1 - lo/2: lo is below one ulp of hi.
  const V e = hn::Mul(hn::Mul(t, hn::Exp(d, arg)), hn::NegMulAdd(half, lo, hn::Set(d, 1.0f)));
  const V halfXe = hn::Mul(hn::Mul(half, x), e);
  const auto negative = hn::Lt(x, hn::Zero(d));
  return hn::IfThenElse(negative, halfXe, hn::Sub(x, halfXe));
}

// The policy's enum (Internal.h), so that GemmArgs can name an activation.
using Act = ::tessel::kernels::Activation;

template <Act kAct, class D, class V> HWY_INLINE V Activate(D d, V x) {
  if constexpr (kAct == Act::kSilu)
    return Silu(d, x);
  if constexpr (kAct == Act::kGeluErf)
    return GeluErf(d, x);
  return GeluTanh(d, x);
}

// y = act(g) (* u when u is not null). Tails go through a zero-padded
// vector so that scalar and vector lanes use the same formula.
template <Act kAct>
HWY_INLINE void ActivateRow(int64_t n, const float *g, const float *u, float *y) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    auto v = Activate<kAct>(d, hn::LoadU(d, g + i));
    if (u)
      v = hn::Mul(v, hn::LoadU(d, u + i));
    hn::StoreU(v, d, y + i);
  }
  if (i < n) {
    HWY_ALIGN float gt[HWY_MAX_BYTES / sizeof(float)] = {};
    HWY_ALIGN float ut[HWY_MAX_BYTES / sizeof(float)] = {};
    HWY_ALIGN float yt[HWY_MAX_BYTES / sizeof(float)];
    for (int64_t j = i; j < n; ++j) {
      gt[j - i] = g[j];
      if (u)
        ut[j - i] = u[j];
    }
    auto v = Activate<kAct>(d, hn::Load(d, gt));
    if (u)
      v = hn::Mul(v, hn::Load(d, ut));
    hn::Store(v, d, yt);
    for (int64_t j = i; j < n; ++j)
      y[j] = yt[j - i];
  }
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_ACTIVATION_INL_H_
