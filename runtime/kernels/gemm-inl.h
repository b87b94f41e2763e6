//===- gemm-inl.h - per-target GEMM / GEMV code -----------------*- C++ -*-===//
//
// Included once per Highway target (foreach_target.h) by Gemm.cc and
// Attention.cc. Policy (which path, how to split across threads) lives in
// Gemm.cc and Internal.h; this file only computes a region of C:
//  - the packed path: a register-blocked micro-kernel of kMR rows x two
//    vectors over packed A strips and packed B panels (TESSEL_GEMM_PANEL wide);
//  - the skinny path (m <= kSkinnyRows): four W rows at a time streamed
//    once against every A row, a register tile of dot products with
//    horizontal sums at the end (GEMV for m == 1); for B in [k, n] layout,
//    rows of B scaled and added (an axpy per A element, no sums).
// Three epilogues ride on these paths: an addend (a residual) added where a
// tile is stored; the gated linear unit, act(gate) * up, where the gate and
// up tiles of the same outputs are computed side by side and combined before
// either leaves the cache; and RoPE, which rotates the heads of a block of
// rows once the last K block has finished them. One prologue: RMSNorm or
// LayerNorm of A, applied while A is packed.
//
//===----------------------------------------------------------------------===//

// Per-target include guard (the idiom of hwy/examples/skeleton-inl.h).
#if defined(TESSEL_RUNTIME_KERNELS_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_GEMM_INL_H_
#undef TESSEL_RUNTIME_KERNELS_GEMM_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_GEMM_INL_H_
#endif

#include <algorithm>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "hwy/highway.h"
#include "runtime/kernels/Internal.h"
#include "runtime/kernels/activation-inl.h"
#include "runtime/kernels/norm-inl.h"
#include "runtime/kernels/rope-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 lanes, so that two vectors never exceed a 32-float panel (wider
// SVE/RVV vectors use a 16-lane prefix); on AVX-512 it is the full vector.
using DG = hn::CappedTag<float, 16>;

// Rows of the micro-kernel. The tile is kMR x 2 vectors of accumulators,
// plus 2 registers for the B row and one for the broadcast A element, which
// must fit the register file with room to spare:
//  - AVX-512 (32 zmm): 8 x 2 = 16 accumulators. 16 independent FMA chains
//    cover the FMA latency (4) x throughput (2 on Intel, 1 zmm on Zen 4)
//    twice over; per k step the kernel issues 2 B loads and 8 broadcasts
//    for 16 FMAs. 12 x 2 (24 accumulators) measured no faster on Zen 4
//    (102 vs 104 GFLOP/s at 512^3), so the smaller tile keeps remainders
//    cheaper.
//  - AVX2 and 128-bit x86 (16 registers): 6 x 2 = 12 accumulators + 3.
//  - NEON (32 registers): 8 x 2.
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3) || HWY_ARCH_ARM
constexpr int64_t kMR = 8;
#else
constexpr int64_t kMR = 6;
#endif
static_assert(kMC % kMR == 0, "kMC must be a multiple of every target's kMR");

enum InitMode { kInitZero, kInitBias, kInitLoad };

// The micro-kernel: c[kRows, 2L] (+)= ap^T bp over kc steps, where ap is a
// packed A strip (kMR floats per k step; rows >= kRows are padding) and bp a
// slice of a packed B panel (kPanel floats per k step). `bias` (kInitBias)
// points at 2L floats. `addend` (nullable) rows of 2L floats at stride
// ldAddend are added just before the store; they may be the c rows
// themselves, so neither pointer is restrict.
template <int64_t kRows>
HWY_INLINE void MicroKernel(int64_t kc, const float *HWY_RESTRICT ap, const float *HWY_RESTRICT bp,
                            float *c, int64_t ldc, InitMode mode, const float *HWY_RESTRICT bias,
                            const float *addend, int64_t ldAddend) {
  static_assert(kRows >= 1 && kRows <= 8, "micro-kernel rows");
  const DG d;
  using V = hn::Vec<DG>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  V i0 = hn::Zero(d), i1 = hn::Zero(d);
  if (mode == kInitBias) {
    i0 = hn::LoadU(d, bias);
    i1 = hn::LoadU(d, bias + L);
  }
  V c00 = i0, c01 = i1, c10 = i0, c11 = i1, c20 = i0, c21 = i1, c30 = i0, c31 = i1;
  V c40 = i0, c41 = i1, c50 = i0, c51 = i1, c60 = i0, c61 = i1, c70 = i0, c71 = i1;
  if (mode == kInitLoad) {
#define TESSEL_LOAD_ROW(r)                                                                         \
  if constexpr (kRows > r) {                                                                       \
    c##r##0 = hn::LoadU(d, c + r * ldc);                                                           \
    c##r##1 = hn::LoadU(d, c + r * ldc + L);                                                       \
  }
    TESSEL_LOAD_ROW(0);
    TESSEL_LOAD_ROW(1);
    TESSEL_LOAD_ROW(2);
    TESSEL_LOAD_ROW(3);
    TESSEL_LOAD_ROW(4);
    TESSEL_LOAD_ROW(5);
    TESSEL_LOAD_ROW(6);
    TESSEL_LOAD_ROW(7);
#undef TESSEL_LOAD_ROW
  }
  for (int64_t p = 0; p < kc; ++p, ap += kMR, bp += kPanel) {
    const V b0 = hn::Load(d, bp);
    const V b1 = hn::Load(d, bp + L);
#define TESSEL_FMA_ROW(r)                                                                          \
  if constexpr (kRows > r) {                                                                       \
    const V ar = hn::Set(d, ap[r]);                                                                \
    c##r##0 = hn::MulAdd(ar, b0, c##r##0);                                                         \
    c##r##1 = hn::MulAdd(ar, b1, c##r##1);                                                         \
  }
    TESSEL_FMA_ROW(0);
    TESSEL_FMA_ROW(1);
    TESSEL_FMA_ROW(2);
    TESSEL_FMA_ROW(3);
    TESSEL_FMA_ROW(4);
    TESSEL_FMA_ROW(5);
    TESSEL_FMA_ROW(6);
    TESSEL_FMA_ROW(7);
#undef TESSEL_FMA_ROW
  }
  if (addend) {
#define TESSEL_ADD_ROW(r)                                                                          \
  if constexpr (kRows > r) {                                                                       \
    c##r##0 = hn::Add(c##r##0, hn::LoadU(d, addend + r * ldAddend));                               \
    c##r##1 = hn::Add(c##r##1, hn::LoadU(d, addend + r * ldAddend + L));                           \
  }
    TESSEL_ADD_ROW(0);
    TESSEL_ADD_ROW(1);
    TESSEL_ADD_ROW(2);
    TESSEL_ADD_ROW(3);
    TESSEL_ADD_ROW(4);
    TESSEL_ADD_ROW(5);
    TESSEL_ADD_ROW(6);
    TESSEL_ADD_ROW(7);
#undef TESSEL_ADD_ROW
  }
#define TESSEL_STORE_ROW(r)                                                                        \
  if constexpr (kRows > r) {                                                                       \
    hn::StoreU(c##r##0, d, c + r * ldc);                                                           \
    hn::StoreU(c##r##1, d, c + r * ldc + L);                                                       \
  }
  TESSEL_STORE_ROW(0);
  TESSEL_STORE_ROW(1);
  TESSEL_STORE_ROW(2);
  TESSEL_STORE_ROW(3);
  TESSEL_STORE_ROW(4);
  TESSEL_STORE_ROW(5);
  TESSEL_STORE_ROW(6);
  TESSEL_STORE_ROW(7);
#undef TESSEL_STORE_ROW
}

// Runtime row count -> instantiation (remainder strips use fewer rows).
HWY_INLINE void MicroKernelRows(int64_t rows, int64_t kc, const float *ap, const float *bp,
                                float *c, int64_t ldc, InitMode mode, const float *bias,
                                const float *addend = nullptr, int64_t ldAddend = 0) {
  // clang-format off
  switch (rows) {
#define TESSEL_CASE(r)                                                                             \
  case r:                                                                                          \
    return MicroKernel<(r <= kMR ? r : 1)>(kc, ap, bp, c, ldc, mode, bias, addend, ldAddend);
    TESSEL_CASE(1) TESSEL_CASE(2) TESSEL_CASE(3) TESSEL_CASE(4)
    TESSEL_CASE(5) TESSEL_CASE(6) TESSEL_CASE(7) TESSEL_CASE(8)
#undef TESSEL_CASE
    default: break;
  }
  // clang-format on
}

#if HWY_TARGET != HWY_SCALAR
// Stores the transpose of four rows of four floats: out[i * stride + j] =
// row j's value i. Two interleave stages move the 16 floats in 8 vector
// loads/stores instead of 32 scalar ones.
HWY_INLINE void StoreTransposed4x4(hn::Vec<hn::Full128<float>> r0, hn::Vec<hn::Full128<float>> r1,
                                   hn::Vec<hn::Full128<float>> r2, hn::Vec<hn::Full128<float>> r3,
                                   float *out, int64_t stride) {
  const hn::Full128<float> d4;
  const hn::Full128<double> d2;
  const auto t0 = hn::BitCast(d2, hn::InterleaveLower(d4, r0, r1)); // r0[0] r1[0] r0[1] r1[1]
  const auto t1 = hn::BitCast(d2, hn::InterleaveLower(d4, r2, r3));
  const auto t2 = hn::BitCast(d2, hn::InterleaveUpper(d4, r0, r1)); // r0[2] r1[2] r0[3] r1[3]
  const auto t3 = hn::BitCast(d2, hn::InterleaveUpper(d4, r2, r3));
  hn::StoreU(hn::BitCast(d4, hn::InterleaveLower(d2, t0, t1)), d4, out);
  hn::StoreU(hn::BitCast(d4, hn::InterleaveUpper(d2, t0, t1)), d4, out + stride);
  hn::StoreU(hn::BitCast(d4, hn::InterleaveLower(d2, t2, t3)), d4, out + 2 * stride);
  hn::StoreU(hn::BitCast(d4, hn::InterleaveUpper(d2, t2, t3)), d4, out + 3 * stride);
}
#endif

// Packs B[p0 : p0+kc, j0 : j0+32] of W[n, k] (layout kNK) or B[k, n] (kKN)
// into one panel: dst[p*32 + j]; columns at or past n are zero.
HWY_INLINE void PackPanel(const GemmArgs &g, int64_t j0, int64_t p0, int64_t kc,
                          float *HWY_RESTRICT dst) {
  const int64_t cols = std::min<int64_t>(kPanel, g.n - j0);
  if (g.layout == BLayout::kKN) {
    for (int64_t p = 0; p < kc; ++p) {
      const float *src = g.b + (p0 + p) * g.ldb + j0;
      std::memcpy(dst + p * kPanel, src, cols * sizeof(float));
      std::fill(dst + p * kPanel + cols, dst + (p + 1) * kPanel, 0.0f);
    }
    return;
  }
  if (cols < kPanel)
    std::fill(dst, dst + kc * kPanel, 0.0f);
  // A transpose, in 4 x 4 blocks (StoreTransposed4x4).
  int64_t j = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::Full128<float> d4;
  for (; j + 4 <= cols; j += 4) {
    const float *HWY_RESTRICT s0 = g.b + (j0 + j) * g.ldb + p0;
    const float *HWY_RESTRICT s1 = s0 + g.ldb, *HWY_RESTRICT s2 = s1 + g.ldb,
                              *HWY_RESTRICT s3 = s2 + g.ldb;
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4)
      StoreTransposed4x4(hn::LoadU(d4, s0 + p), hn::LoadU(d4, s1 + p), hn::LoadU(d4, s2 + p),
                         hn::LoadU(d4, s3 + p), dst + p * kPanel + j, kPanel);
    for (; p < kc; ++p) {
      dst[p * kPanel + j] = s0[p];
      dst[p * kPanel + j + 1] = s1[p];
      dst[p * kPanel + j + 2] = s2[p];
      dst[p * kPanel + j + 3] = s3[p];
    }
  }
#endif
  for (; j < cols; ++j) {
    const float *HWY_RESTRICT src = g.b + (j0 + j) * g.ldb + p0;
    for (int64_t p = 0; p < kc; ++p)
      dst[p * kPanel + j] = src[p];
  }
}

// The norm prologue on row i of A, elements [p0, p0 + len): y = norm(x)
// there, by the per-element code of tessel_rms_norm_f32 and
// tessel_layer_norm_f32 with the row's precomputed statistics. That code
// computes an element by the same operations in its vector body and in its
// scalar tail (see MulAddLane), so each value is the norm kernel's, bit for
// bit, wherever the span starts.
HWY_INLINE void NormalizeSpan(const NormPrologue &norm, int64_t i, const float *x, int64_t p0,
                              int64_t len, float *y) {
  if (norm.kind == NormKind::kRms)
    return ScaleByWeight(x, norm.w + p0, len, norm.inv[i], norm.offset, y);
  CenterScaleByWeight(x, norm.w + p0, norm.b ? norm.b + p0 : nullptr, len, norm.mean[i],
                      norm.inv[i], y);
}

// Packs A[i0 : i0+mc, p0 : p0+kc] into strips of kMR rows: strip t holds
// dst[(t*kc + p)*kMR + r]; rows past i0+mc are zero. With the norm prologue
// each row span is normalised into an L1 buffer first, then packed.
HWY_INLINE void PackA(const GemmArgs &g, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                      float *HWY_RESTRICT dst) {
  HWY_ALIGN float normalized[kKC];
  for (int64_t t = 0; t * kMR < mc; ++t) {
    float *HWY_RESTRICT strip = dst + t * kc * kMR;
    const int64_t rows = std::min<int64_t>(kMR, mc - t * kMR);
    if (rows < kMR)
      std::fill(strip, strip + kc * kMR, 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = i0 + t * kMR + r;
      const float *src = g.a + i * g.lda + p0;
      if (g.norm) {
        NormalizeSpan(*g.norm, i, src, p0, kc, normalized);
        src = normalized;
      }
      for (int64_t p = 0; p < kc; ++p)
        strip[p * kMR + r] = src[p];
    }
  }
}

// The RoPE epilogue on rows [row0, row1) of c: rotates, in place, the heads
// whose last column lies in (colBegin, colEnd], i.e. those that the block
// of columns ending at colEnd has just finished (a head that started in an
// earlier block of the same region is final there already).
HWY_INLINE void RopeHeads(const GemmArgs &g, int64_t row0, int64_t row1, int64_t colBegin,
                          int64_t colEnd) {
  const RopeEpilogue &e = *g.rope;
  const int64_t h0 = colBegin / e.headDim;
  const int64_t h1 = std::min(e.heads, colEnd / e.headDim);
  if (h0 >= h1)
    return;
  for (int64_t i = row0; i < row1; ++i) {
    float *x = g.c + i * g.ldc + h0 * e.headDim;
    RopeTokenImpl(h1 - h0, e.headDim, e.rot, e.layout, e.cos + i * e.tableStride,
                  e.sin + i * e.tableStride, x, x);
  }
}

// C rows [row0, row1) x columns [col0, col1) through the packed path.
// col0 must be a multiple of kPanel (region splits are panel-aligned).
HWY_INLINE void GemmPackedRegion(const GemmArgs &g, int64_t row0, int64_t row1, int64_t col0,
                                 int64_t col1) {
  const DG d;
  const int64_t W = 2 * static_cast<int64_t>(hn::Lanes(d)); // slice width
  const int64_t K = g.k;
  float *apack = scratchOf<float>(Scratch::kPackA, kMC * kKC);
  float *bpack = g.packed ? nullptr : scratchOf<float>(Scratch::kPackB, kKC * kNC);
  HWY_ALIGN float tile[kMR * kPanel];
  HWY_ALIGN float biasTile[kPanel];
  for (int64_t jc = col0; jc < col1; jc += kNC) {
    const int64_t nc = std::min(kNC, col1 - jc);
    const int64_t panels = (nc + kPanel - 1) / kPanel;
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = std::min(kKC, K - pc);
      const float *bblock;
      int64_t panelStride;
      if (g.packed) {
        bblock = g.packed + ((jc / kPanel) * K + pc) * kPanel;
        panelStride = K * kPanel;
      } else {
        for (int64_t q = 0; q < panels; ++q)
          PackPanel(g, jc + q * kPanel, pc, kc, bpack + q * kc * kPanel);
        bblock = bpack;
        panelStride = kc * kPanel;
      }
      const InitMode mode = pc > 0 || g.accumulate ? kInitLoad : (g.bias ? kInitBias : kInitZero);
      for (int64_t ic = row0; ic < row1; ic += kMC) {
        const int64_t mc = std::min(kMC, row1 - ic);
        PackA(g, ic, mc, pc, kc, apack);
        for (int64_t q = 0; q < panels; ++q) {
          for (int64_t s = 0; s < kPanel; s += W) {
            const int64_t col = jc + q * kPanel + s;
            if (col >= col1)
              break;
            const int64_t cols = std::min(W, col1 - col);
            const float *bp = bblock + q * panelStride + s;
            const float *bias = g.bias ? g.bias + col : nullptr;
            if (cols < W && mode == kInitBias) {
              std::fill(biasTile, biasTile + W, 0.0f);
              std::memcpy(biasTile, bias, cols * sizeof(float));
              bias = biasTile;
            }
            for (int64_t t = 0; t * kMR < mc; ++t) {
              const int64_t row = ic + t * kMR;
              const int64_t rows = std::min<int64_t>(kMR, mc - t * kMR);
              const float *ap = apack + t * kc * kMR;
              float *cp = g.c + row * g.ldc + col;
              // The addend joins the first K block's sum: later blocks load
              // c, so it is added exactly once, and c may be the addend.
              const float *add = pc == 0 && g.addend ? g.addend + row * g.ldAddend + col : nullptr;
              if (cols == W) {
                MicroKernelRows(rows, kc, ap, bp, cp, g.ldc, mode, bias, add, g.ldAddend);
                continue;
              }
              // A column remainder: go through a full-width tile.
              if (mode == kInitLoad)
                for (int64_t r = 0; r < rows; ++r)
                  std::memcpy(tile + r * W, cp + r * g.ldc, cols * sizeof(float));
              MicroKernelRows(rows, kc, ap, bp, tile, W, mode, bias);
              for (int64_t r = 0; r < rows; ++r) {
                if (!add) {
                  std::memcpy(cp + r * g.ldc, tile + r * W, cols * sizeof(float));
                  continue;
                }
                for (int64_t j = 0; j < cols; ++j)
                  cp[r * g.ldc + j] = tile[r * W + j] + add[r * g.ldAddend + j];
              }
            }
          }
        }
        // Rows ic..ic+mc of columns jc..jc+nc are final after the last K
        // block: rotate the heads they complete while the block (at most
        // 96 x 512 floats) is still in L2.
        if (g.rope && pc + kc == K)
          RopeHeads(g, ic, ic + mc, jc, jc + nc);
      }
    }
  }
}

// Fetches `floats` floats (whole cache lines) at each of p0..p3 into L2 (not
// L1, where the current rows are). The skinny paths pass the same offsets
// in the next group of four W rows, so that group streams in while this one
// is computed. Why: with short rows (k = 512: 2 KiB) each group is four
// streams of 32 lines, too short for the hardware prefetchers to ramp up;
// 1 x 32000 x 512 ran at 24-29 GB/s against 46 GB/s for k = 4096 on 2
// threads (the AVX-512 build machine). Prefetches never fault, so offsets
// past the end of W are harmless.
HWY_INLINE void StreamAhead(const float *p0, const float *p1, const float *p2, const float *p3,
                            int64_t floats) {
  for (int64_t f = 0; f < floats; f += 16) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p0 + f, 0, 1);
    __builtin_prefetch(p1 + f, 0, 1);
    __builtin_prefetch(p2 + f, 0, 1);
    __builtin_prefetch(p3 + f, 0, 1);
#else
    hwy::Prefetch(p0 + f), hwy::Prefetch(p1 + f), hwy::Prefetch(p2 + f), hwy::Prefetch(p3 + f);
#endif
  }
}

// Sums of the products of `x` with four rows of W over `len` elements,
// added to out[0..3]. Two accumulators per row hide the FMA latency; the
// loop is bound by the W stream.
HWY_INLINE void Dot4(const float *HWY_RESTRICT x, const float *HWY_RESTRICT w0,
                     const float *HWY_RESTRICT w1, const float *HWY_RESTRICT w2,
                     const float *HWY_RESTRICT w3, int64_t len, int64_t ahead, float *out) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  V a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  V b0 = hn::Zero(d), b1 = hn::Zero(d), b2 = hn::Zero(d), b3 = hn::Zero(d);
  int64_t p = 0;
  for (; p + 2 * L <= len; p += 2 * L) {
    StreamAhead(w0 + p + ahead, w1 + p + ahead, w2 + p + ahead, w3 + p + ahead, 2 * L);
    const V x0 = hn::LoadU(d, x + p), x1 = hn::LoadU(d, x + p + L);
    a0 = hn::MulAdd(x0, hn::LoadU(d, w0 + p), a0);
    a1 = hn::MulAdd(x0, hn::LoadU(d, w1 + p), a1);
    a2 = hn::MulAdd(x0, hn::LoadU(d, w2 + p), a2);
    a3 = hn::MulAdd(x0, hn::LoadU(d, w3 + p), a3);
    b0 = hn::MulAdd(x1, hn::LoadU(d, w0 + p + L), b0);
    b1 = hn::MulAdd(x1, hn::LoadU(d, w1 + p + L), b1);
    b2 = hn::MulAdd(x1, hn::LoadU(d, w2 + p + L), b2);
    b3 = hn::MulAdd(x1, hn::LoadU(d, w3 + p + L), b3);
  }
  for (; p + L <= len; p += L) {
    const V x0 = hn::LoadU(d, x + p);
    a0 = hn::MulAdd(x0, hn::LoadU(d, w0 + p), a0);
    a1 = hn::MulAdd(x0, hn::LoadU(d, w1 + p), a1);
    a2 = hn::MulAdd(x0, hn::LoadU(d, w2 + p), a2);
    a3 = hn::MulAdd(x0, hn::LoadU(d, w3 + p), a3);
  }
  float s0 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, b0)));
  float s1 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a1, b1)));
  float s2 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a2, b2)));
  float s3 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a3, b3)));
  for (; p < len; ++p) {
    s0 = MulAddLane(x[p], w0[p], s0);
    s1 = MulAddLane(x[p], w1[p], s1);
    s2 = MulAddLane(x[p], w2[p], s2);
    s3 = MulAddLane(x[p], w3[p], s3);
  }
  out[0] += s0;
  out[1] += s1;
  out[2] += s2;
  out[3] += s3;
}

HWY_INLINE float Dot1(const float *HWY_RESTRICT x, const float *HWY_RESTRICT w, int64_t len) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  V a0 = hn::Zero(d), a1 = hn::Zero(d);
  int64_t p = 0;
  for (; p + 2 * L <= len; p += 2 * L) {
    a0 = hn::MulAdd(hn::LoadU(d, x + p), hn::LoadU(d, w + p), a0);
    a1 = hn::MulAdd(hn::LoadU(d, x + p + L), hn::LoadU(d, w + p + L), a1);
  }
  for (; p + L <= len; p += L)
    a0 = hn::MulAdd(hn::LoadU(d, x + p), hn::LoadU(d, w + p), a0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
  for (; p < len; ++p)
    s = MulAddLane(x[p], w[p], s);
  return s;
}

// Four W rows against kRows (2..4) rows of A in one pass over k: every W
// vector is loaded once and feeds kRows FMAs (a 4 x kRows register tile of
// dot products, the layout gemma.cpp's MatMul uses), then 4 * kRows
// horizontal sums. out[r * 4 + q] += dot(a_r, w_q).
template <int64_t kRows>
HWY_INLINE void DotTile(const float *HWY_RESTRICT a, int64_t lda, const float *HWY_RESTRICT w,
                        int64_t ldw, int64_t len, float *out) {
  static_assert(kRows >= 2 && kRows <= 4, "rows of the dot tile");
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const float *HWY_RESTRICT w0 = w, *HWY_RESTRICT w1 = w + ldw, *HWY_RESTRICT w2 = w + 2 * ldw,
                            *HWY_RESTRICT w3 = w + 3 * ldw;
  V s00 = hn::Zero(d), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00,
    s20 = s00, s21 = s00, s22 = s00, s23 = s00, s30 = s00, s31 = s00, s32 = s00, s33 = s00;
  int64_t p = 0;
  for (; p + L <= len; p += L) {
    StreamAhead(w0 + p + 4 * ldw, w1 + p + 4 * ldw, w2 + p + 4 * ldw, w3 + p + 4 * ldw, L);
    const V v0 = hn::LoadU(d, w0 + p), v1 = hn::LoadU(d, w1 + p);
    const V v2 = hn::LoadU(d, w2 + p), v3 = hn::LoadU(d, w3 + p);
#define TESSEL_DOT_ROW(r)                                                                          \
  if constexpr (kRows > r) {                                                                       \
    const V x = hn::LoadU(d, a + r * lda + p);                                                     \
    s##r##0 = hn::MulAdd(x, v0, s##r##0);                                                          \
    s##r##1 = hn::MulAdd(x, v1, s##r##1);                                                          \
    s##r##2 = hn::MulAdd(x, v2, s##r##2);                                                          \
    s##r##3 = hn::MulAdd(x, v3, s##r##3);                                                          \
  }
    TESSEL_DOT_ROW(0);
    TESSEL_DOT_ROW(1);
    TESSEL_DOT_ROW(2);
    TESSEL_DOT_ROW(3);
#undef TESSEL_DOT_ROW
  }
#define TESSEL_DOT_SUM(r)                                                                          \
  if constexpr (kRows > r) {                                                                       \
    out[r * 4 + 0] += hn::GetLane(hn::SumOfLanes(d, s##r##0));                                     \
    out[r * 4 + 1] += hn::GetLane(hn::SumOfLanes(d, s##r##1));                                     \
    out[r * 4 + 2] += hn::GetLane(hn::SumOfLanes(d, s##r##2));                                     \
    out[r * 4 + 3] += hn::GetLane(hn::SumOfLanes(d, s##r##3));                                     \
  }
  TESSEL_DOT_SUM(0);
  TESSEL_DOT_SUM(1);
  TESSEL_DOT_SUM(2);
  TESSEL_DOT_SUM(3);
#undef TESSEL_DOT_SUM
  for (; p < len; ++p)
    for (int64_t r = 0; r < kRows; ++r) {
      const float x = a[r * lda + p];
      out[r * 4 + 0] = MulAddLane(x, w0[p], out[r * 4 + 0]);
      out[r * 4 + 1] = MulAddLane(x, w1[p], out[r * 4 + 1]);
      out[r * 4 + 2] = MulAddLane(x, w2[p], out[r * 4 + 2]);
      out[r * 4 + 3] = MulAddLane(x, w3[p], out[r * 4 + 3]);
    }
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// The 16 lane sums of v[0..15] as one vector, lane 4b + j holding the sum
// of v[b + 4j]: a tree of 128-bit block shuffles, then 64-bit interleaves
// and 32-bit shuffles within blocks; 15 adds and 30 shuffles where 16
// separate reductions take ~8 instructions each. Every v[i] is summed in
// the same order, whichever lane it lands in.
HWY_INLINE __m512 SumLanes16(const __m512 v[16]) {
  __m512 u[8], t[4], r[2];
  for (int i = 0; i < 8; ++i) // u[i]: v[2i] in blocks 0-1, v[2i+1] in 2-3
    u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int i = 0; i < 4; ++i) // t[i] block b: v[4i + b]
    t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  for (int i = 0; i < 2; ++i) { // r[i] block b: v[8i + b] in lanes 0-1, v[8i + 4 + b] in 2-3
    const __m512d x = _mm512_castps_pd(t[2 * i]), y = _mm512_castps_pd(t[2 * i + 1]);
    r[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  return _mm512_add_ps(_mm512_shuffle_ps(r[0], r[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(r[0], r[1], _MM_SHUFFLE(3, 1, 3, 1)));
}
#endif

// Four rows of A (a[r]) against four rows of W (w[q]) over `len` values:
// sums[r * 4 + q] = dot(a[r], w[q]), a 4 x 4 tile of accumulators (every
// loaded vector feeds four FMAs), the last partial vector through
// zero-padded copies, then the lane sums (SumLanes16 on AVX-512). Every
// product is computed by the same operations in every slot of the tile, so
// a tile short of rows or columns repeats one (a[3] = a[2], ...) and each
// result is the same bits wherever it falls. With `ahead` (floats, or 0),
// w[q] + ahead is prefetched as w[q] is read: the first tile of a group
// of W rows reads them from memory, later tiles from L1.
HWY_INLINE void DotTile4x4(const float *const a[4], const float *const w[4], int64_t len,
                           int64_t ahead, float *HWY_RESTRICT sums) {
  const DG d;
  using V = hn::Vec<DG>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  V acc[16];
  for (int i = 0; i < 16; ++i)
    acc[i] = hn::Zero(d);
  // The slot of A row r x W row q: r + 4q, so that SumLanes16 puts it in
  // lane 4r + q.
  auto step = [&](const float *const ap[4], const float *const wp[4], int64_t p) {
    V wv[4];
    for (int q = 0; q < 4; ++q)
      wv[q] = hn::LoadU(d, wp[q] + p);
    for (int r = 0; r < 4; ++r) {
      const V av = hn::LoadU(d, ap[r] + p);
      for (int q = 0; q < 4; ++q)
        acc[r + 4 * q] = hn::MulAdd(av, wv[q], acc[r + 4 * q]);
    }
  };
  int64_t p = 0;
  for (; p + L <= len; p += L) {
    if (ahead)
      StreamAhead(w[0] + p + ahead, w[1] + p + ahead, w[2] + p + ahead, w[3] + p + ahead, L);
    step(a, w, p);
  }
  if (p < len) {
    HWY_ALIGN float tail[8][16] = {};
    const float *ap[4], *wp[4];
    for (int i = 0; i < 4; ++i) {
      std::memcpy(tail[i], a[i] + p, (len - p) * sizeof(float));
      std::memcpy(tail[4 + i], w[i] + p, (len - p) * sizeof(float));
      ap[i] = tail[i], wp[i] = tail[4 + i];
    }
    step(ap, wp, 0);
  }
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3 // DG: 16 lanes
  __m512 raw[16];
  for (int i = 0; i < 16; ++i)
    raw[i] = acc[i].raw;
  _mm512_storeu_ps(sums, SumLanes16(raw));
#else
  for (int r = 0; r < 4; ++r)
    for (int q = 0; q < 4; ++q)
      sums[r * 4 + q] = hn::GetLane(hn::SumOfLanes(d, acc[r + 4 * q]));
#endif
}

// The four rows of a tile from `first` (row i at base + i * ld + offset),
// of which `live` (1-4) are real: the others repeat the last live one
// (DotTile4x4's padding).
HWY_INLINE void TileRowPointers(const float *base, int64_t ld, int64_t first, int64_t live,
                                int64_t offset, const float *rows[4]) {
  for (int64_t r = 0; r < 4; ++r)
    rows[r] = base + (first + std::min(r, live - 1)) * ld + offset;
}

// Four W rows (w, at stride ldw) against `rows` (1..4) rows of A:
// sums[r * 4 + q] = dot(a_r, w_q), set, not added to.
HWY_INLINE void DotRows4(int64_t rows, const float *a, int64_t lda, const float *w, int64_t ldw,
                         int64_t len, float *sums) {
  static_assert(kSkinnyRows == 4, "DotTile covers up to 4 rows");
  std::fill(sums, sums + rows * 4, 0.0f);
  switch (rows) {
  case 1:
    return Dot4(a, w, w + ldw, w + 2 * ldw, w + 3 * ldw, len, 4 * ldw, sums);
  case 2:
    return DotTile<2>(a, lda, w, ldw, len, sums);
  case 3:
    return DotTile<3>(a, lda, w, ldw, len, sums);
  default:
    return DotTile<4>(a, lda, w, ldw, len, sums);
  }
}

// The rows [row0, row1) x columns [col0, col1) of a GEMM on W[n, k] of more
// than kSkinnyRows (and at most kDotRows) rows: per group of four W rows,
// per K block of kKC, every tile of four A rows (DotTile4x4, short tiles
// and groups padded by repeats, so a result does not depend on where its
// row or column falls), each block's sums added onto c. K is cut as the
// packed path cuts it, and as the quantized GEMM dequantizes it, so that a
// GEMM on stored weights is this one on their values, bit for bit.
// store(i, j, sum, more) writes C[i, j] (`more`: a later K block's sum).
template <class Store>
HWY_INLINE void DotRowsRegion(const GemmArgs &g, int64_t row0, int64_t row1, int64_t col0,
                              int64_t col1, const Store &store) {
  const int64_t K = g.k;
  float sums[16];
  for (int64_t j = col0; j < col1; j += 4) {
    const int64_t cols = std::min<int64_t>(4, col1 - j);
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = std::min(kKC, K - pc);
      const float *wk[4], *ak[4];
      TileRowPointers(g.b, g.ldb, j, cols, pc, wk);
      for (int64_t i = row0; i < row1; i += 4) {
        const int64_t rows = std::min<int64_t>(4, row1 - i);
        TileRowPointers(g.a, g.lda, i, rows, pc, ak);
        DotTile4x4(ak, wk, kc, i == row0 ? 4 * g.ldb : 0, sums);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t q = 0; q < cols; ++q)
            store(i + r, j + q, sums[r * 4 + q], pc > 0);
      }
    }
  }
}

// Skinny path for W[n, k]: rows [row0, row1) (at most kDotRows) x columns
// [col0, col1). Every W row is read from memory exactly once. Up to
// kSkinnyRows rows (decode) with whole rows of W per pass (DotRows4, Dot4
// for one row); more through DotRowsRegion.
HWY_INLINE void SkinnyNK(const GemmArgs &g, int64_t row0, int64_t row1, int64_t col0,
                         int64_t col1) {
  const int64_t rows = row1 - row0;
  const int64_t K = g.k;
  const float *a = g.a + row0 * g.lda;
  // The addend is read just before the same element of c is written, which
  // is what allows addend == c. `more`: a later K block's sum, onto c.
  auto store = [&](int64_t i, int64_t j, float v, bool more) {
    float *cj = g.c + i * g.ldc + j;
    if (g.accumulate || more)
      v += *cj;
    else if (g.bias)
      v += g.bias[j];
    if (g.addend && !more)
      v += g.addend[i * g.ldAddend + j];
    *cj = v;
  };
  if (g.m > kSkinnyRows)
    return DotRowsRegion(g, row0, row1, col0, col1, store);
  float sums[kSkinnyRows * 4];
  int64_t j = col0;
  for (; j + 4 <= col1; j += 4) {
    DotRows4(rows, a, g.lda, g.b + j * g.ldb, g.ldb, K, sums);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t q = 0; q < 4; ++q)
        store(row0 + r, j + q, sums[r * 4 + q], false);
  }
  for (; j < col1; ++j)
    for (int64_t r = 0; r < rows; ++r)
      store(row0 + r, j, Dot1(a + r * g.lda, g.b + j * g.ldb, K), false);
}

// The skinny path with the RoPE epilogue: columns in chunks of whole heads
// (about kNC columns; a multiple of 4, so that Dot4 groups the outputs as
// the plain path does), each chunk rotated right after its dot products,
// while its few rows are in L1.
HWY_INLINE void SkinnyRope(const GemmArgs &g, int64_t row0, int64_t row1, int64_t col0,
                           int64_t col1) {
  const int64_t unit = std::lcm<int64_t>(4, g.rope->headDim);
  const int64_t chunk = unit * std::max<int64_t>(1, kNC / unit);
  for (int64_t j = col0; j < col1; j += chunk) {
    const int64_t jEnd = std::min(col1, j + chunk);
    SkinnyNK(g, row0, row1, j, jEnd);
    RopeHeads(g, row0, row1, j, jEnd);
  }
}

// y[i] = act(gate[i]) * up[i], with the activation code of tessel_silu_mul
// and tessel_gelu_mul (one formula for every lane, tails included).
HWY_INLINE void GluCombine(Activation act, int64_t n, const float *gate, const float *up,
                           float *y) {
  switch (act) {
  case Activation::kSilu:
    return ActivateRow<Act::kSilu>(n, gate, up, y);
  case Activation::kGeluErf:
    return ActivateRow<Act::kGeluErf>(n, gate, up, y);
  case Activation::kGeluTanh:
    return ActivateRow<Act::kGeluTanh>(n, gate, up, y);
  }
}

// Skinny path of the gated GEMM: per group of four outputs, the gate and up
// dot products of every A row (each weight row read from memory once),
// combined in register-sized buffers; no gate or up value reaches c's
// memory. Past kSkinnyRows rows, 4 x 4 tiles (DotTile4x4) over all of K:
// the gate sums of a K block would otherwise wait in scratch.
HWY_INLINE void SkinnyGlu(const GemmArgs &g, int64_t row0, int64_t row1, int64_t col0,
                          int64_t col1) {
  const int64_t rows = row1 - row0;
  const int64_t K = g.k;
  const float *a = g.a + row0 * g.lda;
  float gate[kSkinnyRows * 4], up[kSkinnyRows * 4], out[kSkinnyRows * 4];
  if (g.m > kSkinnyRows) {
    for (int64_t j = col0; j < col1; j += 4) {
      const int64_t cols = std::min<int64_t>(4, col1 - j);
      const float *wg[4], *wu[4], *at[4];
      TileRowPointers(g.b, g.ldb, j, cols, 0, wg);
      TileRowPointers(g.bUp, g.ldb, j, cols, 0, wu);
      for (int64_t i = 0; i < rows; i += 4) {
        const int64_t tile = std::min<int64_t>(4, rows - i);
        TileRowPointers(a, g.lda, i, tile, 0, at);
        DotTile4x4(at, wg, K, i == 0 ? 4 * g.ldb : 0, gate);
        DotTile4x4(at, wu, K, i == 0 ? 4 * g.ldb : 0, up);
        GluCombine(g.glu, 16, gate, up, out);
        for (int64_t r = 0; r < tile; ++r)
          std::memcpy(g.c + (row0 + i + r) * g.ldc + j, out + r * 4, cols * sizeof(float));
      }
    }
    return;
  }
  int64_t j = col0;
  for (; j + 4 <= col1; j += 4) {
    DotRows4(rows, a, g.lda, g.b + j * g.ldb, g.ldb, K, gate);
    DotRows4(rows, a, g.lda, g.bUp + j * g.ldb, g.ldb, K, up);
    GluCombine(g.glu, rows * 4, gate, up, out);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(g.c + (row0 + r) * g.ldc + j, out + r * 4, 4 * sizeof(float));
  }
  // The last n % 4 outputs (only at the end of n: threads split in fours).
  const int64_t tail = col1 - j;
  if (tail == 0)
    return;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < tail; ++q) {
      gate[r * tail + q] = Dot1(a + r * g.lda, g.b + (j + q) * g.ldb, K);
      up[r * tail + q] = Dot1(a + r * g.lda, g.bUp + (j + q) * g.ldb, K);
    }
  GluCombine(g.glu, rows * tail, gate, up, out);
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(g.c + (row0 + r) * g.ldc + j, out + r * tail, tail * sizeof(float));
}

// Skinny path for B[k, n]: c[r, :] (+)= sum_p a[r, p] b[p, :], an axpy of
// each B row scaled by a[r, p] (no horizontal sums). All rows (up to 4) go
// together over two vectors of columns, so each B row is loaded once per
// column chunk; a single row takes four vectors at a time instead.
template <int64_t kRows>
HWY_INLINE void SkinnyKNRows(const GemmArgs &g, int64_t row0, int64_t col0, int64_t col1) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t K = g.k;
  const float *HWY_RESTRICT a = g.a + row0 * g.lda;
  float *HWY_RESTRICT c = g.c + row0 * g.ldc;
  auto init = [&](int64_t r, int64_t col) {
    if (g.accumulate)
      return hn::LoadU(d, c + r * g.ldc + col);
    if (g.bias)
      return hn::LoadU(d, g.bias + col);
    return hn::Zero(d);
  };
  int64_t j = col0;
  if constexpr (kRows == 1) {
    // One pass over B for kVecs vectors of columns at j.
    auto pass = [&](auto vecs) {
      constexpr int kVecs = decltype(vecs)::value;
      V cv[kVecs];
      for (int x = 0; x < kVecs; ++x)
        cv[x] = init(0, j + x * L);
      const float *HWY_RESTRICT bp = g.b + j;
      for (int64_t p = 0; p < K; ++p, bp += g.ldb) {
        const V ap = hn::Set(d, a[p]);
        for (int x = 0; x < kVecs; ++x)
          cv[x] = hn::MulAdd(ap, hn::LoadU(d, bp + x * L), cv[x]);
      }
      for (int x = 0; x < kVecs; ++x)
        hn::StoreU(cv[x], d, c + j + x * L);
      j += kVecs * L;
    };
    while (j + 4 * L <= col1)
      pass(std::integral_constant<int, 4>{});
    // Three vectors (a head of 48 in decode attention's P V) in one pass
    // over B, rather than two vectors and then one more pass for the third.
    if (j + 3 * L <= col1)
      pass(std::integral_constant<int, 3>{});
  }
  for (; j + 2 * L <= col1; j += 2 * L) {
    V c00 = init(0, j), c01 = init(0, j + L), c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00,
      c31 = c01;
    if constexpr (kRows > 1)
      c10 = init(1, j), c11 = init(1, j + L);
    if constexpr (kRows > 2)
      c20 = init(2, j), c21 = init(2, j + L);
    if constexpr (kRows > 3)
      c30 = init(3, j), c31 = init(3, j + L);
    const float *HWY_RESTRICT bp = g.b + j;
    for (int64_t p = 0; p < K; ++p, bp += g.ldb) {
      const V b0 = hn::LoadU(d, bp), b1 = hn::LoadU(d, bp + L);
#define TESSEL_AXPY_ROW(r)                                                                         \
  if constexpr (kRows > r) {                                                                       \
    const V ar = hn::Set(d, a[r * g.lda + p]);                                                     \
    c##r##0 = hn::MulAdd(ar, b0, c##r##0);                                                         \
    c##r##1 = hn::MulAdd(ar, b1, c##r##1);                                                         \
  }
      TESSEL_AXPY_ROW(0);
      TESSEL_AXPY_ROW(1);
      TESSEL_AXPY_ROW(2);
      TESSEL_AXPY_ROW(3);
#undef TESSEL_AXPY_ROW
    }
#define TESSEL_AXPY_STORE(r)                                                                       \
  if constexpr (kRows > r) {                                                                       \
    hn::StoreU(c##r##0, d, c + r * g.ldc + j);                                                     \
    hn::StoreU(c##r##1, d, c + r * g.ldc + j + L);                                                 \
  }
    TESSEL_AXPY_STORE(0);
    TESSEL_AXPY_STORE(1);
    TESSEL_AXPY_STORE(2);
    TESSEL_AXPY_STORE(3);
#undef TESSEL_AXPY_STORE
  }
  for (int64_t r = 0; r < kRows; ++r) {
    const float *HWY_RESTRICT ar = a + r * g.lda;
    float *HWY_RESTRICT cr = c + r * g.ldc;
    int64_t jr = j;
    for (; jr + L <= col1; jr += L) {
      V c0 = init(r, jr);
      const float *HWY_RESTRICT bp = g.b + jr;
      for (int64_t p = 0; p < K; ++p, bp += g.ldb)
        c0 = hn::MulAdd(hn::Set(d, ar[p]), hn::LoadU(d, bp), c0);
      hn::StoreU(c0, d, cr + jr);
    }
    for (; jr < col1; ++jr) {
      float v = g.accumulate ? cr[jr] : (g.bias ? g.bias[jr] : 0.0f);
      for (int64_t p = 0; p < K; ++p)
        v = MulAddLane(ar[p], g.b[p * g.ldb + jr], v);
      cr[jr] = v;
    }
  }
}

HWY_INLINE void SkinnyKN(const GemmArgs &g, int64_t row0, int64_t row1, int64_t col0,
                         int64_t col1) {
  static_assert(kSkinnyRows == 4, "SkinnyKNRows covers up to 4 rows");
  switch (row1 - row0) {
  case 1:
    return SkinnyKNRows<1>(g, row0, col0, col1);
  case 2:
    return SkinnyKNRows<2>(g, row0, col0, col1);
  case 3:
    return SkinnyKNRows<3>(g, row0, col0, col1);
  default:
    return SkinnyKNRows<4>(g, row0, col0, col1);
  }
}

// The gated GEMM's packed path over C rows [row0, row1) x columns
// [col0, col1) (col0 a multiple of kPanel). Each B block holds the gate and
// the up panels of the same kGluNC outputs, so one packed A strip feeds the
// micro-kernel twice, gate then up. Their running sums live in scratch
// tiles of one kGluRows x kGluNC block across K blocks (the role c plays
// in GemmPackedRegion); after the last K block each register tile's pair is
// combined into c while it is still in L1.
HWY_INLINE void GluPackedRegion(const GemmArgs &g, int64_t row0, int64_t row1, int64_t col0,
                                int64_t col1) {
  const DG d;
  const int64_t W = 2 * static_cast<int64_t>(hn::Lanes(d)); // slice width
  const int64_t K = g.k;
  GemmArgs up = g;
  up.b = g.bUp;
  float *apack = scratchOf<float>(Scratch::kPackA, kMC * kKC);
  float *bpack = scratchOf<float>(Scratch::kPackB, kKC * 2 * kGluNC);
  float *gateAcc = scratchOf<float>(Scratch::kGluAcc, 2 * kGluRows * kGluNC);
  float *upAcc = gateAcc + kGluRows * kGluNC;
  for (int64_t jc = col0; jc < col1; jc += kGluNC) {
    const int64_t nc = std::min(kGluNC, col1 - jc);
    const int64_t panels = (nc + kPanel - 1) / kPanel;
    // Whole panels wide, so the micro-kernel never needs a column remainder
    // here (the padding columns sum zero weights).
    const int64_t ldAcc = panels * kPanel;
    for (int64_t rc = row0; rc < row1; rc += kGluRows) {
      const int64_t rcEnd = std::min(row1, rc + kGluRows);
      for (int64_t pc = 0; pc < K; pc += kKC) {
        const int64_t kc = std::min(kKC, K - pc);
        const int64_t panelSize = kc * kPanel;
        for (int64_t q = 0; q < panels; ++q) {
          PackPanel(g, jc + q * kPanel, pc, kc, bpack + 2 * q * panelSize);
          PackPanel(up, jc + q * kPanel, pc, kc, bpack + (2 * q + 1) * panelSize);
        }
        const InitMode mode = pc == 0 ? kInitZero : kInitLoad;
        const bool last = pc + kc == K;
        for (int64_t ic = rc; ic < rcEnd; ic += kMC) {
          const int64_t mc = std::min(kMC, rcEnd - ic);
          PackA(g, ic, mc, pc, kc, apack);
          for (int64_t q = 0; q < panels; ++q) {
            for (int64_t s = 0; s < kPanel; s += W) {
              const int64_t col = jc + q * kPanel + s;
              if (col >= col1)
                break;
              const int64_t cols = std::min(W, col1 - col);
              const float *bGate = bpack + 2 * q * panelSize + s;
              const float *bUp = bGate + panelSize;
              for (int64_t t = 0; t * kMR < mc; ++t) {
                const int64_t row = ic + t * kMR;
                const int64_t rows = std::min<int64_t>(kMR, mc - t * kMR);
                const float *ap = apack + t * kc * kMR;
                const int64_t at = (row - rc) * ldAcc + q * kPanel + s;
                MicroKernelRows(rows, kc, ap, bGate, gateAcc + at, ldAcc, mode, nullptr);
                MicroKernelRows(rows, kc, ap, bUp, upAcc + at, ldAcc, mode, nullptr);
                if (!last)
                  continue;
                for (int64_t r = 0; r < rows; ++r)
                  GluCombine(g.glu, cols, gateAcc + at + r * ldAcc, upAcc + at + r * ldAcc,
                             g.c + (row + r) * g.ldc + col);
              }
            }
          }
        }
      }
    }
  }
}

// A region of C, single-threaded: picks the skinny or the packed path.
// col0 must be a multiple of kPanel when the packed path may be taken.
// The path depends on the whole GEMM's m, never on the region's rows, so
// that a row split across threads computes every row the same way.
HWY_INLINE void GemmRegionImpl(const GemmArgs &g, int64_t row0, int64_t row1, int64_t col0,
                               int64_t col1) {
  if (row0 >= row1 || col0 >= col1)
    return;
  HWY_DASSERT(g.layout == BLayout::kNK || (!g.addend && !g.bUp));
  HWY_DASSERT(!g.rope || (g.layout == BLayout::kNK && !g.addend && !g.bUp && !g.accumulate));
  HWY_DASSERT(!g.norm || !TakesDotPath(g));
  if (g.k == 0) {
    // Empty sums: c = bias + addend, or act(0) * 0 = 0 when gated.
    for (int64_t r = row0; r < row1; ++r)
      for (int64_t j = col0; j < col1; ++j) {
        float *cj = g.c + r * g.ldc + j;
        if (g.bUp) {
          *cj = 0.0f;
          continue;
        }
        float v = g.accumulate ? *cj : (g.bias ? g.bias[j] : 0.0f);
        if (g.addend)
          v += g.addend[r * g.ldAddend + j];
        *cj = v;
      }
    if (g.rope)
      RopeHeads(g, row0, row1, col0, col1);
    return;
  }
  if (g.bUp) {
    if (TakesDotPath(g))
      return SkinnyGlu(g, row0, row1, col0, col1);
    return GluPackedRegion(g, row0, row1, col0, col1);
  }
  if (TakesDotPath(g)) {
    if (g.layout == BLayout::kNK)
      return g.rope ? SkinnyRope(g, row0, row1, col0, col1) : SkinnyNK(g, row0, row1, col0, col1);
    return SkinnyKN(g, row0, row1, col0, col1);
  }
  GemmPackedRegion(g, row0, row1, col0, col1);
}

// The norm prologue's row statistics over rows [row0, row1) of a[m, k]:
// inv[i] (and mean[i] for LayerNorm), as tessel_rms_norm_f32 and
// tessel_layer_norm_f32 compute them.
HWY_INLINE void NormRowStatsImpl(NormKind kind, int64_t row0, int64_t row1, int64_t k,
                                 const float *a, int64_t lda, float eps, float *inv, float *mean) {
  for (int64_t i = row0; i < row1; ++i) {
    if (kind == NormKind::kRms)
      inv[i] = RmsInverse(a + i * lda, k, eps);
    else
      LayerNormStats(a + i * lda, k, eps, mean[i], inv[i]);
  }
}

// y[r, :] = norm(a[r, :]) for `rows` rows of k (y contiguous): the skinny
// path's normalised copy of its few rows.
HWY_INLINE void NormalizeRowsImpl(const NormPrologue &norm, int64_t rows, int64_t k, const float *a,
                                  int64_t lda, float *y) {
  for (int64_t i = 0; i < rows; ++i)
    NormalizeSpan(norm, i, a + i * lda, 0, k, y + i * k);
}

// Packs all of W[n, k] for tessel_gemm_pack_w_f32: panel q at q*k*32.
HWY_INLINE void PackWeightsImpl(int64_t n, int64_t k, const float *w, int64_t ldw, float *packed) {
  GemmArgs g;
  g.n = n;
  g.k = k;
  g.b = w;
  g.ldb = ldw;
  for (int64_t q = 0; q * kPanel < n; ++q)
    PackPanel(g, q * kPanel, 0, k, packed + q * k * kPanel);
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_GEMM_INL_H_
