//===- moe-inl.h - per-target row helpers of the MoE kernel -----*- C++ -*-===//
//
// The MoE kernel's own SIMD work is small next to its GEMMs: the activation
// of a non-gated expert's hidden rows and the weighted scatter-add of each
// expert's output rows into the tokens' rows of `out`.
//
//===----------------------------------------------------------------------===//
#if defined(TESSEL_RUNTIME_KERNELS_MOE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_MOE_INL_H_
#undef TESSEL_RUNTIME_KERNELS_MOE_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_MOE_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"
#include "runtime/kernels/activation-inl.h"
#include "runtime/kernels/rowops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// out += w * y over n floats. The tail uses MulAddLane so that every
// element rounds once, like the vector lanes.
HWY_INLINE void AddScaledRow(const float *y, int64_t n, float w, float *out) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto vw = hn::Set(d, w);
  int64_t i = 0;
  for (; i + L <= n; i += L)
    hn::StoreU(hn::MulAdd(vw, hn::LoadU(d, y + i), hn::LoadU(d, out + i)), d, out + i);
  for (; i < n; ++i)
    out[i] = MulAddLane(w, y[i], out[i]);
}

// x = max(x, 0) in place (relu, for non-gated experts; the other
// activations reuse ActivateRow from activation-inl.h).
HWY_INLINE void ReluRow(int64_t n, float *x) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto zero = hn::Zero(d);
  int64_t i = 0;
  for (; i + L <= n; i += L)
    hn::StoreU(hn::Max(hn::LoadU(d, x + i), zero), d, x + i);
  for (; i < n; ++i)
    x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_MOE_INL_H_
