//===- norm-inl.h - per-target RMSNorm and LayerNorm ------------*- C++ -*-===//
//
// The row statistics (RmsInverse, LayerNormStats) and the per-element
// scaling (ScaleByWeight, CenterScaleByWeight) are separate so that the
// GEMM's norm prologue (gemm-inl.h) normalises spans of a row with the same
// code as the norm kernels here.
//
//===----------------------------------------------------------------------===//
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

// y = (x - mean) * inv * w + bias over one row (bias nullable; in place is
// fine).
HWY_INLINE void CenterScaleByWeight(const float *x, const float *w, const float *bias, int64_t dim,
                                    float mean, float inv, float *y) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto vmean = hn::Set(d, mean), vinv = hn::Set(d, inv);
  int64_t i = 0;
  // With a bias, (x - mean) * inv * w + bias is one explicit MulAdd (see
  // MulAddLane for why not Add(Mul(...), bias)).
  for (; i + L <= dim; i += L) {
    const auto t = hn::Mul(hn::Sub(hn::LoadU(d, x + i), vmean), vinv);
    const auto wv = hn::LoadU(d, w + i);
    hn::StoreU(bias ? hn::MulAdd(t, wv, hn::LoadU(d, bias + i)) : hn::Mul(t, wv), d, y + i);
  }
  for (; i < dim; ++i) {
    const float t = (x[i] - mean) * inv;
    y[i] = bias ? MulAddLane(t, w[i], bias[i]) : t * w[i];
  }
}

// RMSNorm's 1 / sqrt(mean(x^2) + eps) of one row (dim > 0).
HWY_INLINE float RmsInverse(const float *x, int64_t dim, float eps) {
  const double ms = static_cast<double>(SumSquares(x, dim)) / static_cast<double>(dim);
  return static_cast<float>(1.0 / std::sqrt(ms + eps));
}

// LayerNorm's mean and 1 / sqrt(var + eps) of one row (dim > 0), in two
// passes (mean, then the centred variance).
HWY_INLINE void LayerNormStats(const float *x, int64_t dim, float eps, float &mean, float &inv) {
  const float shift = x[0];
  mean = static_cast<float>(shift + static_cast<double>(SumShifted(x, dim, shift)) / dim);
  const double var = static_cast<double>(SumSquaresCentered(x, dim, mean)) / dim;
  inv = static_cast<float>(1.0 / std::sqrt(var + eps));
}

HWY_INLINE void RmsNormImpl(int64_t rows, int64_t dim, const float *x, const float *w, float eps,
                            int unitOffset, float *y) {
  const float offset = unitOffset ? 1.0f : 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * dim;
    ScaleByWeight(xr, w, dim, RmsInverse(xr, dim, eps), offset, y + r * dim);
  }
}

HWY_INLINE void LayerNormImpl(int64_t rows, int64_t dim, const float *x, const float *w,
                              const float *bias, float eps, float *y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * dim;
    float mean, inv;
    LayerNormStats(xr, dim, eps, mean, inv);
    CenterScaleByWeight(xr, w, bias, dim, mean, inv, y + r * dim);
  }
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_NORM_INL_H_
