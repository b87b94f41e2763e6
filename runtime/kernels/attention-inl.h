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

//===----------------------------------------------------------------------===//
// Prefill blocks: scores kept transposed
//===----------------------------------------------------------------------===//
//
// For a block of more than kFewScoreRows rows without a mask, each tile's
// scores are computed as S^T = K Q^T, [keys][rows], a vector holding lanes
// of consecutive query rows. Against FlashTileImpl's two packed GEMMs:
//  - Q^T is packed once per block, with the softmax scale folded in, and K
//    is read where it lies (broadcasts of K[j][p]); nothing is packed per tile;
//  - the online softmax runs down the columns: max, exp and sum are
//    vertical vector operations, with no reductions across lanes;
//  - P^T is then the A operand of P V as the micro-kernel wants it (the
//    values of key j for consecutive rows are adjacent), and V is read in
//    place, so neither is packed either;
//  - the output accumulators stay in one padded block buffer.
// FlashTileImpl packed Q, K, P and V again for every tile (a tenth of its
// time in memcpy alone) and ran ~50 % of the FMA peak on one thread.

#if HWY_TARGET != HWY_SCALAR
// Registers: the scores kernel holds kScoreKeys x kScoreVecs accumulators,
// the P V kernel kPvRows x kPvVecs, plus a few loads; 32-register targets
// take the larger tiles.
#undef TESSEL_ATTENTION_WIDE_TILES
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3) || HWY_ARCH_ARM
#define TESSEL_ATTENTION_WIDE_TILES 1
constexpr int kScoreKeys = 4, kScoreVecs = 4, kPvRows = 8, kPvVecs = 3;
#else
#define TESSEL_ATTENTION_WIDE_TILES 0
constexpr int kScoreKeys = 4, kScoreVecs = 2, kPvRows = 4, kPvVecs = 2;
#endif

// st[j][0 : kVecs*L] (row stride rp) = sum_p k[j][p] qt[p][0 : kVecs*L]
// for kKeys keys.
// Not inlined: inside the block's loops the compiler ran out of registers
// and reloaded row pointers from the stack in the inner loop.
template <int kKeys, int kVecs>
HWY_NOINLINE void ScoresTransposed(int64_t hd, const float *HWY_RESTRICT k, int64_t kStride,
                                   const float *HWY_RESTRICT qt, int64_t rp,
                                   float *HWY_RESTRICT st) {
  const DG d;
  using V = hn::Vec<DG>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  V acc[kKeys][kVecs];
  for (int j = 0; j < kKeys; ++j)
    for (int x = 0; x < kVecs; ++x)
      acc[j][x] = hn::Zero(d);
  for (int64_t p = 0; p < hd; ++p) {
    V q[kVecs];
    for (int x = 0; x < kVecs; ++x)
      q[x] = hn::Load(d, qt + p * rp + x * L);
    for (int j = 0; j < kKeys; ++j) {
      const V kj = hn::Set(d, k[j * kStride + p]);
      for (int x = 0; x < kVecs; ++x)
        acc[j][x] = hn::MulAdd(kj, q[x], acc[j][x]);
    }
  }
  for (int j = 0; j < kKeys; ++j)
    for (int x = 0; x < kVecs; ++x)
      hn::Store(acc[j][x], d, st + j * rp + x * L);
}

template <int kVecs>
HWY_INLINE void ScoresTransposedKeys(int64_t keys, int64_t hd, const float *k, int64_t kStride,
                                     const float *qt, int64_t rp, float *st) {
  int64_t j = 0;
  for (; j + kScoreKeys <= keys; j += kScoreKeys)
    ScoresTransposed<kScoreKeys, kVecs>(hd, k + j * kStride, kStride, qt, rp, st + j * rp);
  for (; j < keys; ++j)
    ScoresTransposed<1, kVecs>(hd, k + j * kStride, kStride, qt, rp, st + j * rp);
}

// acc[r][0 : kVecs*L] += sum_j pt[j][r] v[j][0 : kVecs*L] for kPvRows rows
// (acc row stride ldAcc, pt row stride rp). With kPartial the last vector
// takes only `lastLanes` values of each V row, through a zero-padded copy:
// the rest of the row may lie past the cache, and not every target's
// masked load is safe there.
template <int kVecs, bool kPartial>
HWY_NOINLINE void PvStrip(int64_t keys, const float *HWY_RESTRICT pt, int64_t rp,
                          const float *HWY_RESTRICT v, int64_t vStride, size_t lastLanes,
                          float *HWY_RESTRICT acc, int64_t ldAcc) {
  const DG d;
  using V = hn::Vec<DG>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  HWY_ALIGN float tail[hn::MaxLanes(d)] = {};
  V c[kPvRows][kVecs];
  for (int r = 0; r < kPvRows; ++r)
    for (int x = 0; x < kVecs; ++x)
      c[r][x] = hn::Load(d, acc + r * ldAcc + x * L);
  for (int64_t j = 0; j < keys; ++j) {
    const float *vj = v + j * vStride;
    V b[kVecs];
    for (int x = 0; x + 1 < kVecs; ++x)
      b[x] = hn::LoadU(d, vj + x * L);
    if constexpr (kPartial) {
      std::copy_n(vj + (kVecs - 1) * L, lastLanes, tail);
      b[kVecs - 1] = hn::Load(d, tail);
    } else {
      b[kVecs - 1] = hn::LoadU(d, vj + (kVecs - 1) * L);
    }
    for (int r = 0; r < kPvRows; ++r) {
      const V a = hn::Set(d, pt[j * rp + r]);
      for (int x = 0; x < kVecs; ++x)
        c[r][x] = hn::MulAdd(a, b[x], c[r][x]);
    }
  }
  for (int r = 0; r < kPvRows; ++r)
    for (int x = 0; x < kVecs; ++x)
      hn::Store(c[r][x], d, acc + r * ldAcc + x * L);
}

// The online-softmax update of one vector of rows over a tile's scores
// st[j][0 : L] (row stride rp), in place to P^T: keys outside [lo, hi) of
// a lane are masked out when `masked`. m, l: the lanes' state; alpha: the
// factor their accumulators take.
HWY_INLINE void SoftmaxColumns(int64_t keys, float *HWY_RESTRICT st, int64_t rp, bool masked,
                               const float *lo, const float *hi, float *m, float *l, float *alpha) {
  const DG d;
  using V = hn::Vec<DG>;
  const V negInf = hn::Set(d, -std::numeric_limits<float>::infinity());
  V mx = negInf;
  if (masked) {
    const V loV = hn::Load(d, lo), hiV = hn::Load(d, hi);
    for (int64_t j = 0; j < keys; ++j) {
      const V pos = hn::Set(d, static_cast<float>(j));
      const auto visible = hn::And(hn::Ge(pos, loV), hn::Lt(pos, hiV));
      const V s = hn::IfThenElse(visible, hn::Load(d, st + j * rp), negInf);
      hn::Store(s, d, st + j * rp);
      mx = hn::Max(mx, s);
    }
  } else {
    for (int64_t j = 0; j < keys; ++j)
      mx = hn::Max(mx, hn::Load(d, st + j * rp));
  }
  const V mOld = hn::Load(d, m);
  const V mNew = hn::Max(mOld, mx);
  // A lane that has seen no key yet keeps m = -inf; exp against 0 there, so
  // that its P and alpha come out 0 rather than NaN.
  const V mUse = hn::IfThenZeroElse(hn::Eq(mNew, negInf), mNew);
  const V a = hn::IfThenElse(hn::Eq(mOld, mNew), hn::Set(d, 1.0f), hn::Exp(d, hn::Sub(mOld, mUse)));
  V sum0 = hn::Zero(d), sum1 = hn::Zero(d);
  int64_t j = 0;
  for (; j + 2 <= keys; j += 2) {
    const V p0 = hn::Exp(d, hn::Sub(hn::Load(d, st + j * rp), mUse));
    const V p1 = hn::Exp(d, hn::Sub(hn::Load(d, st + (j + 1) * rp), mUse));
    hn::Store(p0, d, st + j * rp);
    hn::Store(p1, d, st + (j + 1) * rp);
    sum0 = hn::Add(sum0, p0);
    sum1 = hn::Add(sum1, p1);
  }
  for (; j < keys; ++j) {
    const V p0 = hn::Exp(d, hn::Sub(hn::Load(d, st + j * rp), mUse));
    hn::Store(p0, d, st + j * rp);
    sum0 = hn::Add(sum0, p0);
  }
  hn::Store(hn::MulAdd(hn::Load(d, l), a, hn::Add(sum0, sum1)), d, l);
  hn::Store(mNew, d, m);
  hn::Store(a, d, alpha);
}

// Whether AttentionBlockImpl takes TransposedBlock for R rows: more than
// decode's few, at most one block's, and no per-key mask.
HWY_INLINE bool TakesTransposedBlock(int64_t R, bool masked) {
  return R > kFewScoreRows && R <= kAttentionRows && !masked;
}

// AttentionBlockImpl's keys [j0, j1) (none if j1 <= j0) for R rows
// (TakesTransposedBlock) whose queries are at qRow(r), at positions qPos,
// from the state m, l. Writes the state back (acc row stride vd) or, if
// `finalize`, the output rows at outRow(r).
template <class QRow, class OutRow>
HWY_INLINE void TransposedBlock(const AttentionArgs &a, int64_t b, int64_t kvh, int64_t R,
                                const QRow &qRow, const int64_t *qPos, int64_t j0, int64_t j1,
                                float *m, float *l, float *acc, bool finalize,
                                const OutRow &outRow) {
  const DG d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t hd = a.headDim, vd = a.vHeadDim;
  const int64_t rp = (R + L - 1) / L * L;   // rows, padded to whole vectors
  const int64_t vdp = (vd + L - 1) / L * L; // accumulator row
  const int64_t tile = a.kvTile > 0 ? a.kvTile : TESSEL_ATTENTION_KV_TILE;
  // qt[p][r] = scale * q[r][p]; padding rows are 0.
  float *qt = scratchOf<float>(Scratch::kAttnQT, hd * rp);
  // Four rows at a time, transposed in 4 x 4 blocks (StoreTransposed4x4),
  // instead of a scattered store per value.
  const hn::Full128<float> d4;
  const auto scale4 = hn::Set(d4, a.scale);
  int64_t row = 0;
  for (; row + 4 <= R; row += 4) {
    const float *s0 = qRow(row), *s1 = qRow(row + 1), *s2 = qRow(row + 2), *s3 = qRow(row + 3);
    int64_t p = 0;
    for (; p + 4 <= hd; p += 4)
      StoreTransposed4x4(hn::Mul(scale4, hn::LoadU(d4, s0 + p)),
                         hn::Mul(scale4, hn::LoadU(d4, s1 + p)),
                         hn::Mul(scale4, hn::LoadU(d4, s2 + p)),
                         hn::Mul(scale4, hn::LoadU(d4, s3 + p)), qt + p * rp + row, rp);
    for (; p < hd; ++p) {
      qt[p * rp + row] = a.scale * s0[p];
      qt[p * rp + row + 1] = a.scale * s1[p];
      qt[p * rp + row + 2] = a.scale * s2[p];
      qt[p * rp + row + 3] = a.scale * s3[p];
    }
  }
  for (; row < R; ++row) {
    const float *qr = qRow(row);
    for (int64_t p = 0; p < hd; ++p)
      qt[p * rp + row] = a.scale * qr[p];
  }
  for (int64_t p = 0; p < hd; ++p)
    std::fill(qt + p * rp + R, qt + (p + 1) * rp, 0.0f);
  float *st = scratchOf<float>(Scratch::kScores, tile * rp);
  float *accT = scratchOf<float>(Scratch::kAttnAcc, rp * vdp);
  std::fill(accT, accT + rp * vdp, 0.0f);
  HWY_ALIGN float mT[kAttentionRows], lT[kAttentionRows], alpha[kAttentionRows];
  HWY_ALIGN float lo[kAttentionRows], hi[kAttentionRows];
  for (int64_t r = 0; r < rp; ++r) {
    mT[r] = r < R ? m[r] : -std::numeric_limits<float>::infinity();
    lT[r] = r < R ? l[r] : 0.0f;
  }
  const int64_t vecs = rp / L;
  const int64_t fullVecs = vd / L;                      // of V's columns
  const size_t lastLanes = static_cast<size_t>(vd % L); // then a partial one
  for (int64_t jt = j0; jt < j1; jt += tile) {
    const int64_t nk = std::min(tile, j1 - jt);
    const float *k = a.k + b * a.kBatchStride + jt * a.kRowStride + kvh * hd;
    const float *v = a.v + b * a.vBatchStride + jt * a.vRowStride + kvh * vd;
    for (int64_t x = 0; x < vecs; x += kScoreVecs) {
      const float *qx = qt + x * L;
      float *sx = st + x * L;
      switch (std::min<int64_t>(kScoreVecs, vecs - x)) {
      case 1:
        ScoresTransposedKeys<1>(nk, hd, k, a.kRowStride, qx, rp, sx);
        break;
      case 2:
        ScoresTransposedKeys<2>(nk, hd, k, a.kRowStride, qx, rp, sx);
        break;
#if TESSEL_ATTENTION_WIDE_TILES
      case 3:
        ScoresTransposedKeys<3>(nk, hd, k, a.kRowStride, qx, rp, sx);
        break;
      default:
        ScoresTransposedKeys<4>(nk, hd, k, a.kRowStride, qx, rp, sx);
#endif
      }
    }
    // Keys outside [lo, hi) of a row are invisible to it (causal, window).
    bool masked = false;
    for (int64_t r = 0; r < rp; ++r) {
      int64_t rlo = 0, rhi = nk;
      if (r < R) {
        if (a.causal)
          rhi = std::clamp<int64_t>(qPos[r] - jt + 1, 0, nk);
        if (a.window > 0)
          rlo = std::clamp<int64_t>(qPos[r] - a.window + 1 - jt, 0, nk);
        masked |= rlo > 0 || rhi < nk;
      }
      lo[r] = static_cast<float>(rlo);
      hi[r] = static_cast<float>(rhi);
    }
    for (int64_t x = 0; x < vecs; ++x)
      SoftmaxColumns(nk, st + x * L, rp, masked, lo + x * L, hi + x * L, mT + x * L, lT + x * L,
                     alpha + x * L);
    for (int64_t r = 0; r < rp; ++r)
      if (alpha[r] != 1.0f)
        ScaleRow(accT + r * vdp, vdp, alpha[r], accT + r * vdp);
    for (int64_t r = 0; r < rp; r += kPvRows) {
      const float *pt = st + r;
      float *accRows = accT + r * vdp;
      for (int64_t x = 0, n; x < fullVecs; x += n) {
        // Groups of kPvVecs vectors, but 2 + 2 rather than 3 + 1: a strip
        // of one vector issues a broadcast per FMA.
        n = fullVecs - x == 4 ? 2 : std::min<int64_t>(kPvVecs, fullVecs - x);
        const float *vx = v + x * L;
        switch (n) {
        case 1:
          PvStrip<1, false>(nk, pt, rp, vx, a.vRowStride, 0, accRows + x * L, vdp);
          break;
#if TESSEL_ATTENTION_WIDE_TILES
        case 2:
          PvStrip<2, false>(nk, pt, rp, vx, a.vRowStride, 0, accRows + x * L, vdp);
          break;
        default:
          PvStrip<3, false>(nk, pt, rp, vx, a.vRowStride, 0, accRows + x * L, vdp);
#else
        default:
          PvStrip<2, false>(nk, pt, rp, vx, a.vRowStride, 0, accRows + x * L, vdp);
#endif
        }
      }
      if (lastLanes > 0)
        PvStrip<1, true>(nk, pt, rp, v + fullVecs * L, a.vRowStride, lastLanes,
                         accRows + fullVecs * L, vdp);
    }
  }
  for (int64_t r = 0; r < R; ++r) {
    if (finalize) {
      FinalizeRow(vd, lT[r], accT + r * vdp, outRow(r));
      continue;
    }
    m[r] = mT[r];
    l[r] = lT[r];
    std::copy_n(accT + r * vdp, vd, acc + r * vd);
  }
}
#endif // HWY_TARGET != HWY_SCALAR

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
#if HWY_TARGET != HWY_SCALAR
  const bool transposed = TakesTransposedBlock(R, a.mask != nullptr);
#else
  const bool transposed = false;
#endif
  // The tiles' rows, copied together (TransposedBlock packs its own Q^T).
  float *q = transposed ? nullptr : scratchOf<float>(Scratch::kAttnQ, R * hd);
  int64_t *qPos = scratchOf<int64_t>(Scratch::kPositions, R);
  const uint8_t **maskRows = a.mask ? scratchOf<const uint8_t *>(Scratch::kMaskRows, R) : nullptr;
  auto qRow = [&](int64_t r) {
    const int64_t i = i0 + r / group, h = kvh * group + r % group;
    return a.q + b * a.qBatchStride + i * a.qRowStride + h * hd;
  };
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t g = 0; g < group; ++g) {
      const int64_t r = (i - i0) * group + g, h = kvh * group + g;
      if (q)
        std::memcpy(q + r * hd, qRow(r), hd * sizeof(float));
      qPos[r] = i + shift;
      if (maskRows)
        maskRows[r] = a.mask + b * a.maskBatchStride + i * a.maskRowStride;
      const bool sink = withSinks && a.sinks;
      m[r] = sink ? a.sinks[h] : kNegInf;
      l[r] = sink ? 1.0f : 0.0f;
    }
  if (!transposed)
    std::fill(acc, acc + R * vd, 0.0f);

  // Keys no row of the block can see are skipped whole.
  if (a.causal)
    j1 = std::min(j1, (i1 - 1) + shift + 1);
  if (a.window > 0)
    j0 = std::max(j0, i0 + shift - a.window + 1);
  auto outRow = [&](int64_t r) {
    const int64_t i = i0 + r / group, h = kvh * group + r % group;
    return a.out + b * a.outBatchStride + i * a.outRowStride + h * vd;
  };
#if HWY_TARGET != HWY_SCALAR
  if (transposed)
    return TransposedBlock(a, b, kvh, R, qRow, qPos, j0, j1, m, l, acc, finalize, outRow);
#endif
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
  for (int64_t r = 0; r < R; ++r)
    FinalizeRow(vd, l[r], acc + r * vd, outRow(r));
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_ATTENTION_INL_H_
