//===- attention-inl.h - per-target flash-attention tile --------*- C++ -*-===//
//
// The tile is two small GEMMs around an online-softmax update:
//   S = Q K^T               (rows x keys, W-layout GEMM: K rows are W rows)
//   update m, l; P = exp(S - m'); acc = acc * e^(m - m')
//   acc += P V              (K-N layout GEMM, accumulating)
// so it reuses the packed micro-kernel (prefill: 64 rows) and the skinny
// streaming path (decode: a GQA group's few rows read each K/V row once).
// Only one rows x keys tile of scores exists at a time.
//
//===----------------------------------------------------------------------===//
#if defined(TESSEL_RUNTIME_KERNELS_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_ATTENTION_INL_H_
#undef TESSEL_RUNTIME_KERNELS_ATTENTION_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_ATTENTION_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "hwy/highway.h"
#include "runtime/kernels/Internal.h"
#include "runtime/kernels/gemm-inl.h"
#include "runtime/kernels/rowops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE void FlashTileImpl(const TileArgs &t) {
  const int64_t R = t.rows, nk = t.keys;
  if (R <= 0 || nk <= 0)
    return;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float *s = scratchOf<float>(Scratch::kScores, R * nk);

  GemmArgs qk;
  qk.m = R, qk.n = nk, qk.k = t.headDim;
  qk.a = t.q, qk.lda = t.qStride, qk.b = t.k, qk.ldb = t.kStride, qk.layout = BLayout::kNK;
  qk.c = s, qk.ldc = nk;
  // Always the packed path: with few rows (decode) the skinny path would
  // spend more on horizontal sums (head_dim is only a few vectors) than on
  // FMAs, while packing K transposes it cheaply in 4 x 4 blocks.
  if (t.headDim == 0) {
    std::fill(s, s + R * nk, 0.0f);
  } else {
    GemmPackedRegion(qk, 0, R, 0, nk);
  }

  for (int64_t r = 0; r < R; ++r) {
    float *sr = s + r * nk;
    // Causal and window rules cut a contiguous range [lo, hi) of keys.
    int64_t lo = 0, hi = nk;
    if (t.qPos) {
      const int64_t pos = t.qPos[r];
      if (t.causal)
        hi = std::min(hi, pos - t.kPos0 + 1);
      if (t.window > 0)
        lo = std::max(lo, pos - t.window + 1 - t.kPos0);
    }
    if (hi <= lo) {
      std::fill(sr, sr + nk, 0.0f); // P row = 0; the state is unchanged
      continue;
    }
    std::fill(sr, sr + lo, 0.0f);
    std::fill(sr + hi, sr + nk, 0.0f);
    float *vis = sr + lo;
    const int64_t nv = hi - lo;
    ScaleRow(vis, nv, t.scale, vis);
    if (t.maskRows && t.maskRows[r]) {
      const uint8_t *flags = t.maskRows[r] + t.maskOffset + lo;
      for (int64_t j = 0; j < nv; ++j)
        if (!flags[j])
          vis[j] = kNegInf;
    }
    const float mOld = t.m[r];
    const float mNew = std::max(mOld, MaxRow(vis, nv));
    if (mNew == kNegInf) { // nothing visible yet, and nothing here
      std::fill(vis, vis + nv, 0.0f);
      continue;
    }
    const float alpha = mOld == kNegInf ? 0.0f : std::exp(mOld - mNew);
    const float sum = ExpSubSum(vis, nv, mNew, vis); // masked keys -> 0
    t.l[r] = t.l[r] * alpha + sum;
    t.m[r] = mNew;
    if (alpha != 1.0f)
      ScaleRow(t.acc + r * t.accStride, t.vDim, alpha, t.acc + r * t.accStride);
  }

  GemmArgs pv;
  pv.m = R, pv.n = t.vDim, pv.k = nk;
  pv.a = s, pv.lda = nk, pv.b = t.v, pv.ldb = t.vStride, pv.layout = BLayout::kKN;
  pv.c = t.acc, pv.ldc = t.accStride, pv.accumulate = true;
  GemmRegionImpl(pv, 0, R, 0, t.vDim);
}

HWY_INLINE void FinalizeRow(int64_t vDim, float l, const float *acc, float *out) {
  if (l > 0.0f) {
    ScaleRow(acc, vDim, 1.0f / l, out);
  } else {
    std::fill(out, out + vDim, 0.0f);
  }
}

// Combines `splits` partial states of one row: m[s*rowStride], l[s*rowStride],
// acc[s*accSplitStride + d].
HWY_INLINE void CombineRow(int64_t splits, int64_t vDim, const float *m, const float *l,
                           int64_t rowStride, const float *acc, int64_t accSplitStride,
                           float *out) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float mMax = kNegInf;
  for (int64_t s = 0; s < splits; ++s)
    mMax = std::max(mMax, m[s * rowStride]);
  if (mMax == kNegInf) {
    std::fill(out, out + vDim, 0.0f);
    return;
  }
  float denom = 0.0f;
  for (int64_t s = 0; s < splits; ++s)
    if (m[s * rowStride] != kNegInf)
      denom += l[s * rowStride] * std::exp(m[s * rowStride] - mMax);
  if (!(denom > 0.0f)) {
    std::fill(out, out + vDim, 0.0f);
    return;
  }
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  bool first = true;
  for (int64_t s = 0; s < splits; ++s) {
    if (m[s * rowStride] == kNegInf)
      continue;
    const float w = std::exp(m[s * rowStride] - mMax) / denom;
    const float *as = acc + s * accSplitStride;
    const auto vw = hn::Set(d, w);
    int64_t i = 0;
    if (first) {
      for (; i + L <= vDim; i += L)
        hn::StoreU(hn::Mul(vw, hn::LoadU(d, as + i)), d, out + i);
      for (; i < vDim; ++i)
        out[i] = w * as[i];
    } else {
      for (; i + L <= vDim; i += L)
        hn::StoreU(hn::MulAdd(vw, hn::LoadU(d, as + i), hn::LoadU(d, out + i)), d, out + i);
      for (; i < vDim; ++i)
        out[i] += w * as[i];
    }
    first = false;
  }
}

// One work item of tessel_attention_f32: batch b, KV head kvh, query
// positions [i0, i1) for every head of the group, keys [j0, j1). Rows are
// r = (i - i0) * group + g. Starts from the init (or sink) state in m, l,
// acc (acc row stride vDim) and, if `finalize`, writes the output rows.
HWY_INLINE void AttentionBlockImpl(const AttentionArgs &a, int64_t b, int64_t kvh, int64_t i0,
                                   int64_t i1, int64_t j0, int64_t j1, bool withSinks, float *m,
                                   float *l, float *acc, bool finalize) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int64_t group = a.numHeads / a.numKvHeads;
  const int64_t R = (i1 - i0) * group, hd = a.headDim, vd = a.vHeadDim;
  const int64_t shift = a.kvLen - a.qLen; // query i sits at position i + shift
  float *q = scratchOf<float>(Scratch::kAttnQ, R * hd);
  int64_t *qPos = scratchOf<int64_t>(Scratch::kPositions, R);
  const uint8_t **maskRows = a.mask ? scratchOf<const uint8_t *>(Scratch::kMaskRows, R) : nullptr;
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t g = 0; g < group; ++g) {
      const int64_t r = (i - i0) * group + g, h = kvh * group + g;
      std::memcpy(q + r * hd, a.q + b * a.qBatchStride + i * a.qRowStride + h * hd,
                  hd * sizeof(float));
      qPos[r] = i + shift;
      if (maskRows)
        maskRows[r] = a.mask + b * a.maskBatchStride + i * a.maskRowStride;
      const bool sink = withSinks && a.sinks;
      m[r] = sink ? a.sinks[h] : kNegInf;
      l[r] = sink ? 1.0f : 0.0f;
    }
  std::fill(acc, acc + R * vd, 0.0f);

  // Keys no row of the block can see are skipped whole.
  if (a.causal)
    j1 = std::min(j1, (i1 - 1) + shift + 1);
  if (a.window > 0)
    j0 = std::max(j0, i0 + shift - a.window + 1);
  const int64_t tile = a.kvTile > 0 ? a.kvTile : TESSEL_ATTENTION_KV_TILE;
  TileArgs t;
  t.rows = R, t.headDim = hd, t.vDim = vd, t.q = q, t.qStride = hd, t.scale = a.scale;
  t.qPos = qPos, t.causal = a.causal, t.window = a.window, t.maskRows = maskRows;
  t.m = m, t.l = l, t.acc = acc, t.accStride = vd;
  for (int64_t jt = j0; jt < j1; jt += tile) {
    t.keys = std::min(tile, j1 - jt);
    t.k = a.k + b * a.kBatchStride + jt * a.kRowStride + kvh * hd;
    t.kStride = a.kRowStride;
    t.v = a.v + b * a.vBatchStride + jt * a.vRowStride + kvh * vd;
    t.vStride = a.vRowStride;
    t.kPos0 = jt;
    t.maskOffset = jt;
    FlashTileImpl(t);
  }
  if (!finalize)
    return;
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t g = 0; g < group; ++g) {
      const int64_t r = (i - i0) * group + g, h = kvh * group + g;
      FinalizeRow(vd, l[r], acc + r * vd,
                  a.out + b * a.outBatchStride + i * a.outRowStride + h * vd);
    }
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_ATTENTION_INL_H_
