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

// The rows at or below which FlashTileImpl computes the scores as dot
// products (ScoresFewRows) instead of the packed GEMM: decode's one row per
// head (MHA) up to a GQA group of four.
constexpr int64_t kFewScoreRows = 4;

#if HWY_TARGET != HWY_SCALAR
// The lane sums of a, b, c, d into out[0..3]: pairs of lanes are added
// across the four vectors by two rounds of interleaving (within each
// 128-bit block), then the blocks are added. About 3 operations a sum,
// against a whole reduction tree each for SumOfLanes.
template <class D, class V> HWY_INLINE void Sum4Lanes(D d, V a, V b, V c, V e, float *out) {
  const hn::Repartition<double, D> d64;
  const V ab = hn::Add(hn::InterleaveLower(d, a, b), hn::InterleaveUpper(d, a, b));
  const V ce = hn::Add(hn::InterleaveLower(d, c, e), hn::InterleaveUpper(d, c, e));
  const auto ab64 = hn::BitCast(d64, ab), ce64 = hn::BitCast(d64, ce);
  // Per block: [a0+a2, b0+b2, c0+c2, e0+e2] + [a1+a3, b1+b3, c1+c3, e1+e3].
  const V sums = hn::Add(hn::BitCast(d, hn::InterleaveLower(d64, ab64, ce64)),
                         hn::BitCast(d, hn::InterleaveUpper(d64, ab64, ce64)));
  HWY_ALIGN float lanes[hn::MaxLanes(d)];
  hn::Store(sums, d, lanes);
  const hn::Full128<float> d4;
  auto total = hn::Load(d4, lanes);
  for (size_t block = 4; block < hn::Lanes(d); block += 4)
    total = hn::Add(total, hn::Load(d4, lanes + block));
  hn::StoreU(total, d4, out);
}
#endif

// s[r * nk + j] = q_r . k_j for R <= kFewScoreRows rows: each key row is
// read once and multiplied against every query row in registers, four keys
// at a time, and their sums taken across lanes together (Sum4Lanes). For
// so few rows, packing K for the GEMM micro-kernel (a transpose of the
// whole tile into zero-filled panels) costs more: at one row and 130 keys
// of 64 dims it was ~2/3 of the kernel's time.
template <int R>
HWY_INLINE void ScoresFewRows(int64_t nk, int64_t hd, const float *q, int64_t qStride,
                              const float *k, int64_t kStride, float *s) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t full = hd / L * L;
  auto dot = [&](int64_t r, const float *kj) {
    auto acc = hn::Zero(d);
    for (int64_t p = 0; p < full; p += L)
      acc = hn::MulAdd(hn::LoadU(d, q + r * qStride + p), hn::LoadU(d, kj + p), acc);
    float sum = hn::GetLane(hn::SumOfLanes(d, acc));
    for (int64_t p = full; p < hd; ++p)
      sum += q[r * qStride + p] * kj[p];
    return sum;
  };
  int64_t j = 0;
#if HWY_TARGET != HWY_SCALAR
  if (L >= 4 && full == hd) {
    for (; j + 4 <= nk; j += 4) {
      const float *k0 = k + j * kStride, *k1 = k0 + kStride, *k2 = k1 + kStride, *k3 = k2 + kStride;
      hn::Vec<decltype(d)> acc[R][4];
      for (int r = 0; r < R; ++r)
        for (int i = 0; i < 4; ++i)
          acc[r][i] = hn::Zero(d);
      for (int64_t p = 0; p < hd; p += L) {
        const auto v0 = hn::LoadU(d, k0 + p), v1 = hn::LoadU(d, k1 + p), v2 = hn::LoadU(d, k2 + p),
                   v3 = hn::LoadU(d, k3 + p);
        for (int r = 0; r < R; ++r) {
          const auto qv = hn::LoadU(d, q + r * qStride + p);
          acc[r][0] = hn::MulAdd(qv, v0, acc[r][0]);
          acc[r][1] = hn::MulAdd(qv, v1, acc[r][1]);
          acc[r][2] = hn::MulAdd(qv, v2, acc[r][2]);
          acc[r][3] = hn::MulAdd(qv, v3, acc[r][3]);
        }
      }
      for (int r = 0; r < R; ++r)
        Sum4Lanes(d, acc[r][0], acc[r][1], acc[r][2], acc[r][3], s + r * nk + j);
    }
  }
#endif
  for (; j < nk; ++j)
    for (int r = 0; r < R; ++r)
      s[r * nk + j] = dot(r, k + j * kStride);
}

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
  // More rows share the packing of K (the packed GEMM path); a few rows
  // take dot products (ScoresFewRows).
  if (t.headDim == 0) {
    std::fill(s, s + R * nk, 0.0f);
  } else if (R <= kFewScoreRows) {
    switch (R) {
    case 1:
      ScoresFewRows<1>(nk, t.headDim, t.q, t.qStride, t.k, t.kStride, s);
      break;
    case 2:
      ScoresFewRows<2>(nk, t.headDim, t.q, t.qStride, t.k, t.kStride, s);
      break;
    case 3:
      ScoresFewRows<3>(nk, t.headDim, t.q, t.qStride, t.k, t.kStride, s);
      break;
    default:
      ScoresFewRows<4>(nk, t.headDim, t.q, t.qStride, t.k, t.kStride, s);
    }
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
