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
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/kernels/Internal.h"
#include "runtime/kernels/ThreadPool.h"

namespace tessel::kernels {
HWY_EXPORT(RopeRows);

namespace {
// Tokens per task when a pool builds the tables.
constexpr int64_t kRopeTokenBlock = 64;

// What the calling thread's tables (Scratch::kRopeTables) were built for.
struct RopeTableKey {
  int layout = -1;
  int64_t rot = 0;
  float theta = 0.0f, linearScaling = 0.0f;
  std::vector<float> freqFactors;
  std::vector<int64_t> positions;

  bool matches(int layout_, int64_t rot_, float theta_, float scaling_, const float *ff,
               const int64_t *pos, int64_t m) const {
    if (layout != layout_ || rot != rot_ || theta != theta_ || linearScaling != scaling_ ||
        static_cast<int64_t>(positions.size()) != m || freqFactors.empty() != (ff == nullptr))
      return false;
    if (ff && std::memcmp(ff, freqFactors.data(), freqFactors.size() * sizeof(float)) != 0)
      return false;
    return std::memcmp(pos, positions.data(), static_cast<size_t>(m) * sizeof(int64_t)) == 0;
  }
};
} // namespace

const float *ropeTables(int layout, int64_t rot, float theta, float linearScaling,
                        const float *freqFactors, const int64_t *positions, int64_t m,
                        ThreadPool *pool) {
  const int64_t width = ropeTableWidth(layout, rot);
  thread_local RopeTableKey built;
  float *tables = scratchOf<float>(Scratch::kRopeTables, std::max<int64_t>(2 * m * width, 1));
  if (built.matches(layout, rot, theta, linearScaling, freqFactors, positions, m))
    return tables;
  std::vector<double> invFreq(rot / 2);
  ropeInvFreq(theta, rot, freqFactors, invFreq.data());
  auto build = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      ropeTokenTables(layout, rot, invFreq.data(), positions[t], linearScaling, tables + t * width,
                      tables + (m + t) * width);
  };
  const int64_t tasks = (m + kRopeTokenBlock - 1) / kRopeTokenBlock;
  if (pool && pool->numThreads() > 1 && tasks > 1)
    pool->run(tasks, [&](int64_t i) {
      build(i * kRopeTokenBlock, std::min(m, (i + 1) * kRopeTokenBlock));
    });
  else
    build(0, m);
  built.layout = layout, built.rot = rot, built.theta = theta, built.linearScaling = linearScaling;
  built.freqFactors.assign(freqFactors, freqFactors ? freqFactors + rot / 2 : freqFactors);
  built.positions.assign(positions, positions + m);
  return tables;
}

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
  const int64_t width = ropeTableWidth(layout, rot);
  const float *tables =
      ropeTables(layout, rot, theta, linearScaling, freqFactors, positions, tokens, nullptr);
  HWY_DYNAMIC_DISPATCH(RopeRows)
  (tokens, heads, headDim, rot, layout, x, xStride, y, yStride, tables, tables + tokens * width,
   width);
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
