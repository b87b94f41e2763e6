//===- norm-inl.h - per-target RMSNorm and LayerNorm ------------*- C++ -*-===//
#if defined(TESSEL_RUNTIME_KERNELS_NORM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_NORM_INL_H_
#undef TESSEL_RUNTIME_KERNELS_NORM_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_NORM_INL_H_
#endif

#include <cmath>
#include <cstdint>

#include "hwy/highway.h"
#include "runtime/kernels/rowops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// y = x * inv * (w + offset) over one row (in place is fine).
HWY_INLINE void ScaleByWeight(const float *x, const float *w, int64_t dim, float inv, float offset,
                              float *y) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto vinv = hn::Set(d, inv), voff = hn::Set(d, offset);
  int64_t i = 0;
  for (; i + L <= dim; i += L) {
    const auto wx = hn::Add(hn::LoadU(d, w + i), voff);
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vinv), wx), d, y + i);
  }
  for (; i < dim; ++i)
    y[i] = x[i] * inv * (w[i] + offset);
}

HWY_INLINE void RmsNormImpl(int64_t rows, int64_t dim, const float *x, const float *w, float eps,
                            int unitOffset, float *y) {
  const float offset = unitOffset ? 1.0f : 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * dim;
    const double ms = static_cast<double>(SumSquares(xr, dim)) / static_cast<double>(dim);
    const float inv = static_cast<float>(1.0 / std::sqrt(ms + eps));
    ScaleByWeight(xr, w, dim, inv, offset, y + r * dim);
  }
}

HWY_INLINE void LayerNormImpl(int64_t rows, int64_t dim, const float *x, const float *w,
                              const float *bias, float eps, float *y) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * dim;
    float *yr = y + r * dim;
    const float shift = xr[0];
    const float mean =
        static_cast<float>(shift + static_cast<double>(SumShifted(xr, dim, shift)) / dim);
    const double var = static_cast<double>(SumSquaresCentered(xr, dim, mean)) / dim;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const auto vmean = hn::Set(d, mean), vinv = hn::Set(d, inv);
    int64_t i = 0;
    for (; i + L <= dim; i += L) {
      auto t = hn::Mul(hn::Mul(hn::Sub(hn::LoadU(d, xr + i), vmean), vinv), hn::LoadU(d, w + i));
      if (bias)
        t = hn::Add(t, hn::LoadU(d, bias + i));
      hn::StoreU(t, d, yr + i);
    }
    for (; i < dim; ++i)
      yr[i] = (xr[i] - mean) * inv * w[i] + (bias ? bias[i] : 0.0f);
  }
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_NORM_INL_H_
