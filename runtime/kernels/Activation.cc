//===- Activation.cc - softmax / SiLU / GELU dispatch ---------------------===//
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/Activation.cc"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "runtime/kernels/activation-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {

void Softmax(int64_t rows, int64_t n, const float *x, float *y) { SoftmaxImpl(rows, n, x, y); }

// kind: 0 = SiLU, 1 = GELU (erf), 2 = GELU (tanh). `u` is nullable.
void ActivateMul(int kind, int64_t n, const float *g, const float *u, float *y) {
  switch (kind) {
  case 0:
    return ActivateRow<Act::kSilu>(n, g, u, y);
  case 1:
    return ActivateRow<Act::kGeluErf>(n, g, u, y);
  default:
    return ActivateRow<Act::kGeluTanh>(n, g, u, y);
  }
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tessel::kernels {
HWY_EXPORT(Softmax);
HWY_EXPORT(ActivateMul);

void softmax(int64_t rows, int64_t n, const float *x, float *y) {
  if (rows <= 0 || n <= 0)
    return;
  HWY_DYNAMIC_DISPATCH(Softmax)(rows, n, x, y);
}

void activateMul(int kind, int64_t n, const float *g, const float *u, float *y) {
  if (n <= 0)
    return;
  HWY_DYNAMIC_DISPATCH(ActivateMul)(kind, n, g, u, y);
}
} // namespace tessel::kernels

extern "C" {
void tessel_softmax_f32(int64_t rows, int64_t n, const float *x, float *y) {
  tessel::kernels::softmax(rows, n, x, y);
}
void tessel_silu_f32(int64_t n, const float *x, float *y) {
  tessel::kernels::activateMul(0, n, x, nullptr, y);
}
void tessel_silu_mul_f32(int64_t n, const float *g, const float *u, float *y) {
  tessel::kernels::activateMul(0, n, g, u, y);
}
void tessel_gelu_f32(int64_t n, const float *x, int tanh_approx, float *y) {
  tessel::kernels::activateMul(tanh_approx ? 2 : 1, n, x, nullptr, y);
}
void tessel_gelu_mul_f32(int64_t n, const float *g, const float *u, int tanh_approx, float *y) {
  tessel::kernels::activateMul(tanh_approx ? 2 : 1, n, g, u, y);
}
} // extern "C"
#endif // HWY_ONCE
