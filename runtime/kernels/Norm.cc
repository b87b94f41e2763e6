//===- Norm.cc - RMSNorm / LayerNorm dispatch -----------------------------===//
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/Norm.cc"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "runtime/kernels/norm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {

void RmsNorm(int64_t rows, int64_t dim, const float *x, const float *w, float eps, int unitOffset,
             float *y) {
  RmsNormImpl(rows, dim, x, w, eps, unitOffset, y);
}

void LayerNorm(int64_t rows, int64_t dim, const float *x, const float *w, const float *bias,
               float eps, float *y) {
  LayerNormImpl(rows, dim, x, w, bias, eps, y);
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tessel::kernels {
HWY_EXPORT(RmsNorm);
HWY_EXPORT(LayerNorm);

void rmsNorm(int64_t rows, int64_t dim, const float *x, const float *w, float eps, int unitOffset,
             float *y) {
  if (rows <= 0 || dim <= 0)
    return;
  HWY_DYNAMIC_DISPATCH(RmsNorm)(rows, dim, x, w, eps, unitOffset, y);
}

void layerNorm(int64_t rows, int64_t dim, const float *x, const float *w, const float *bias,
               float eps, float *y) {
  if (rows <= 0 || dim <= 0)
    return;
  HWY_DYNAMIC_DISPATCH(LayerNorm)(rows, dim, x, w, bias, eps, y);
}
} // namespace tessel::kernels

extern "C" {
void tessel_rms_norm_f32(int64_t rows, int64_t dim, const float *x, const float *w, float eps,
                         int unit_offset, float *y) {
  tessel::kernels::rmsNorm(rows, dim, x, w, eps, unit_offset, y);
}

void tessel_layer_norm_f32(int64_t rows, int64_t dim, const float *x, const float *w,
                           const float *bias, float eps, float *y) {
  tessel::kernels::layerNorm(rows, dim, x, w, bias, eps, y);
}
} // extern "C"
#endif // HWY_ONCE
