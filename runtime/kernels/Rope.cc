//===- Rope.cc - RoPE policy: f64 angle tables, per-token dispatch --------===//
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/Rope.cc"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/rope-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {

void RopeRows(int64_t tokens, int64_t heads, int64_t headDim, int64_t rot, int layout,
              const float *x, int64_t xStride, float *y, int64_t yStride, const float *cosTable,
              const float *sinTable, int64_t tableStride) {
  for (int64_t t = 0; t < tokens; ++t)
    RopeTokenImpl(heads, headDim, rot, layout, cosTable + t * tableStride,
                  sinTable + t * tableStride, x + t * xStride, y + t * yStride);
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cmath>
#include <vector>

#include "runtime/kernels/Internal.h"

namespace tessel::kernels {
HWY_EXPORT(RopeRows);

namespace {
// Tokens whose tables are built before one dispatched call: bounds the table
// memory (64 x 2 x rotary_dim floats) while amortising the dispatch.
constexpr int64_t kRopeTokenBlock = 64;
} // namespace

int64_t ropeTableWidth(int layout, int64_t rot) {
  return layout == TESSEL_ROPE_INTERLEAVED ? rot : rot / 2;
}

// Exactly the reference's angle: pos / scaling * theta^(-2i/rot) / ff[i],
// in double. cos/sin of angles up to ~1e5 rad keep ~1e-11 absolute error.
void ropeInvFreq(float theta, int64_t rot, const float *freqFactors, double *invFreq) {
  for (int64_t i = 0; i < rot / 2; ++i) {
    invFreq[i] = std::pow(static_cast<double>(theta), -2.0 * i / rot);
    if (freqFactors)
      invFreq[i] /= freqFactors[i];
  }
}

void ropeTokenTables(int layout, int64_t rot, const double *invFreq, int64_t position,
                     float linearScaling, float *cs, float *sn) {
  const double pos = static_cast<double>(position) / linearScaling;
  for (int64_t i = 0; i < rot / 2; ++i) {
    const double angle = pos * invFreq[i];
    const float c = static_cast<float>(std::cos(angle));
    const float s = static_cast<float>(std::sin(angle));
    if (layout == TESSEL_ROPE_INTERLEAVED) {
      cs[2 * i] = cs[2 * i + 1] = c;
      sn[2 * i] = -s;
      sn[2 * i + 1] = s;
    } else {
      cs[i] = c;
      sn[i] = s;
    }
  }
}

void rope(int64_t tokens, int64_t heads, int64_t headDim, const float *x, int64_t xStride, float *y,
          int64_t yStride, const int64_t *positions, int layout, float theta, int64_t rotaryDim,
          float linearScaling, const float *freqFactors) {
  if (tokens <= 0 || heads <= 0 || headDim <= 0)
    return;
  const int64_t rot = rotaryDim > 0 ? rotaryDim : headDim;
  std::vector<double> invFreq(rot / 2);
  ropeInvFreq(theta, rot, freqFactors, invFreq.data());
  const int64_t width = ropeTableWidth(layout, rot);
  thread_local std::vector<float> cosTable, sinTable;
  cosTable.resize(kRopeTokenBlock * width);
  sinTable.resize(kRopeTokenBlock * width);
  for (int64_t t0 = 0; t0 < tokens; t0 += kRopeTokenBlock) {
    const int64_t count = std::min(kRopeTokenBlock, tokens - t0);
    for (int64_t t = 0; t < count; ++t)
      ropeTokenTables(layout, rot, invFreq.data(), positions[t0 + t], linearScaling,
                      cosTable.data() + t * width, sinTable.data() + t * width);
    HWY_DYNAMIC_DISPATCH(RopeRows)
    (count, heads, headDim, rot, layout, x + t0 * xStride, xStride, y + t0 * yStride, yStride,
     cosTable.data(), sinTable.data(), width);
  }
}

} // namespace tessel::kernels

extern "C" void tessel_rope_f32(int64_t tokens, int64_t heads, int64_t head_dim, const float *x,
                                int64_t x_stride, float *y, int64_t y_stride,
                                const int64_t *positions, int layout, float theta,
                                int64_t rotary_dim, float linear_scaling,
                                const float *freq_factors) {
  tessel::kernels::rope(tokens, heads, head_dim, x, x_stride, y, y_stride, positions, layout, theta,
                        rotary_dim, linear_scaling, freq_factors);
}
#endif // HWY_ONCE
