//===- rope-inl.h - per-target rotary position embedding --------*- C++ -*-===//
//
// Applies one token's rotation to all of its heads, given that token's cos
// and sin tables (computed in f64 by Rope.cc, the policy side):
//  - interleaved: cosE/sinE have rotary_dim entries, cosE[2i] = cosE[2i+1] =
//    cos_i and sinE[2i] = -sin_i, sinE[2i+1] = +sin_i, so that
//    y = x * cosE + swap_pairs(x) * sinE, a lane swap within each pair;
//  - half-split: cos/sin have rotary_dim/2 entries; a = x[i], b = x[i+half].
//
//===----------------------------------------------------------------------===//
#if defined(TESSEL_RUNTIME_KERNELS_ROPE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_ROPE_INL_H_
#undef TESSEL_RUNTIME_KERNELS_ROPE_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_ROPE_INL_H_
#endif

#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/rowops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE void RopeTokenImpl(int64_t heads, int64_t headDim, int64_t rot, int layout,
                              const float *HWY_RESTRICT cs, const float *HWY_RESTRICT sn,
                              const float *x, float *y) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t half = rot / 2;
  for (int64_t h = 0; h < heads; ++h) {
    const float *xh = x + h * headDim;
    float *yh = y + h * headDim;
    if (layout == TESSEL_ROPE_INTERLEAVED) {
      int64_t i = 0;
#if HWY_TARGET != HWY_SCALAR
      for (; i + L <= rot; i += L) {
        const auto v = hn::LoadU(d, xh + i);
        const auto out =
            hn::MulAdd(hn::Shuffle2301(v), hn::LoadU(d, sn + i), hn::Mul(v, hn::LoadU(d, cs + i)));
        hn::StoreU(out, d, yh + i);
      }
#endif
      for (; i < rot; i += 2) { // i stays even: L and rot are even; as the lanes above
        const float a = xh[i], b = xh[i + 1];
        yh[i] = MulAddLane(b, sn[i], a * cs[i]);
        yh[i + 1] = MulAddLane(a, sn[i + 1], b * cs[i + 1]);
      }
    } else {
      int64_t i = 0;
      for (; i + L <= half; i += L) {
        const auto a = hn::LoadU(d, xh + i), b = hn::LoadU(d, xh + half + i);
        const auto c = hn::LoadU(d, cs + i), s = hn::LoadU(d, sn + i);
        hn::StoreU(hn::NegMulAdd(b, s, hn::Mul(a, c)), d, yh + i);
        hn::StoreU(hn::MulAdd(a, s, hn::Mul(b, c)), d, yh + half + i);
      }
      for (; i < half; ++i) {
        const float a = xh[i], b = xh[half + i];
        yh[i] = MulAddLane(-b, sn[i], a * cs[i]); // as the lanes above
        yh[half + i] = MulAddLane(a, sn[i], b * cs[i]);
      }
    }
    if (yh != xh && rot < headDim)
      std::memmove(yh + rot, xh + rot, (headDim - rot) * sizeof(float));
  }
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_ROPE_INL_H_
