//===- Internal.h - non-SIMD policy shared by the kernels -------*- C++ -*-===//
//
// Blocking constants, the argument records that the per-target code
// (`*-inl.h`) receives, and thread-local scratch memory. Nothing here depends
// on the SIMD target; the constants are the policy and are explained where
// they are defined.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_KERNELS_INTERNAL_H
#define TESSEL_RUNTIME_KERNELS_INTERNAL_H

#include <cstddef>
#include <cstdint>

#include "runtime/kernels/Kernels.h"

namespace tessel::kernels {

//===----------------------------------------------------------------------===//
// GEMM blocking (Goto/BLIS): C += A_block * B_block, with
//   B (W) cut into kc x 32 panels (TESSEL_GEMM_PANEL), A into mr x kc strips.
// Loop nest: jc (kNC columns) > pc (kKC depth, packs B) > ic (kMC rows,
// packs A) > panel > slice > mr-row strip (micro-kernel).
//===----------------------------------------------------------------------===//

/// Width of a packed B panel: two AVX-512 vectors. Fixed for every target
/// so that weights packed at load time work whatever target is dispatched.
constexpr int64_t kPanel = TESSEL_GEMM_PANEL;

/// Depth of one K block. The micro-kernel streams a kKC x 32 B panel slice
/// (256 x 128 B = 32 KiB) and an mr x kKC A strip (8 KiB) per call and keeps
/// its C tile in registers across all kKC steps, so deeper blocks amortise
/// the C tile's load and store better. The panel does not need to stay in
/// L1: L2 delivers far more than the ~10 B per FMA cycle the kernel reads.
/// Measured on the AVX-512 build machine (512^3, one thread): 256 gave
/// 109 GFLOP/s, 192 gave 108, 128 gave 106; past 256 nothing moved.
constexpr int64_t kKC = 256;

/// Rows of A per block: kMC x kKC floats (= 96 KiB) stay in L2 while every
/// panel of the B block passes over them; a multiple of every target's mr
/// (8 and 6 divide 96). 48 and 96 measured the same.
constexpr int64_t kMC = 96;

/// Columns per B block: kKC x kNC floats (= 512 KiB) is the packed B block,
/// half of a 1 MiB L2, re-read for each A block; a multiple of kPanel. Each
/// thread owns a disjoint range of columns (split of N), so this is per core.
constexpr int64_t kNC = 512;

/// Up to this many rows of A, GEMM does not pack at all: it streams rows
/// of W once and dots them with every row of A (bandwidth-bound decode).
constexpr int64_t kSkinnyRows = 4;

/// Up to this many rows of A, a GEMM on W[n, k] does not pack either: it
/// takes the skinny path's 4 x 4 tiles of dot products, each group of four
/// W rows read from memory once and from L1 for every tile of four A rows.
/// Why: packing a weight block pays off when many rows use it; an MoE
/// expert's ~32 tokens are too few (and with cold weights the packing also
/// waits on memory). Measured on the two-vCPU Zen 4 VM, MoE of 8 experts
/// top 2, dim 512, hidden 1024, 128 tokens, f32, 2 threads, medians of
/// interleaved runs: 8.2-9.2 ms packed, 7.2-8.5 ms with this path. (A first
/// version without K blocks and padded tiles read 6.1-6.3 ms, but a row's
/// bits then depended on its tile and the quantized GEMM no longer matched
/// this one.) 48 rather than 32: the first version read 6.9 ms up to 32
/// rows; past ~48 the A rows re-read from L2 for each group cost more
/// (64 x 1024 x 512, one thread, weights hot: 80 GFLOP/s against 91-96
/// packed).
constexpr int64_t kDotRows = 48;

/// Work below these sizes runs on one thread: handing a job to a spinning
/// worker and joining it costs ~1-2 us (a sleeping one 10-50 us); 2^18
/// multiply-adds take ~5 us on one AVX-512 core, 2^14 weights (64 KiB)
/// stream in ~3 us.
constexpr int64_t kParallelMinFlops = int64_t{1} << 18;
constexpr int64_t kParallelMinGemvFloats = int64_t{1} << 14;

/// Output columns per block of a gated GEMM (tessel_gemm_glu_f32): the gate
/// and up panels of 256 outputs make a kKC x 512 packed B block, the size of
/// the plain GEMM's (kNC), so the same L2 budget holds.
constexpr int64_t kGluNC = kNC / 2;

/// Rows per block of a gated GEMM. With K deeper than kKC, the gate and up
/// sums of a kGluRows x kGluNC block wait in scratch between K blocks
/// (2 x 384 x 256 x 4 B = 768 KiB per thread, independent of m), where a
/// plain GEMM keeps them in c. The B block is packed once per row block, so
/// each packed weight feeds 384 rows: packing 512 KiB of W (~30 us at
/// ~17 GB/s) against the ~100 MFLOP that use it (~0.7 ms at ~140 GFLOP/s)
/// is ~4%. Measured on the build machine (one thread, 1024 x 1024 weights,
/// SwiGLU): fused ran at 99-100 GFLOP/s for m = 256 and 512, within 3% of
/// two GEMMs plus silu_mul. A multiple of kMC.
constexpr int64_t kGluRows = 4 * kMC;

/// Rows per task of the passes that the fused GEMMs make before the GEMM:
/// the norm prologue's row statistics (one read of a row of A: ~1 us for
/// 4096 floats) and the RoPE epilogue's angle tables (f64 sin and cos of
/// 64 pairs: ~2 us). 64 rows (~0.1 ms) dwarf handing a task to a worker; a
/// GEMM with fewer than two tasks' worth of rows makes the pass on the
/// calling thread.
constexpr int64_t kFusedPassRows = 64;

enum class BLayout : int {
  kNK, // W[n, k] (PyTorch weight): b[j*ldb + p]
  kKN, // B[k, n]:                   b[p*ldb + j]
};

/// The activations of tessel_silu/gelu* and of the gated GEMM epilogue.
enum class Activation : int { kSilu, kGeluErf, kGeluTanh };

/// The norm prologue (tessel_rms_norm_gemm_f32, tessel_layer_norm_gemm_f32):
/// row i of A enters the GEMM normalised,
///   kRms:   a[i, p] * inv[i] * (w[p] + offset)
///   kLayer: (a[i, p] - mean[i]) * inv[i] * w[p] + b[p]
/// computed by the code of tessel_rms_norm_f32 / tessel_layer_norm_f32 as A
/// is packed (PackA), one kKC span at a time; the normalised rows never
/// exist in memory in full. inv and mean are per row of the whole GEMM,
/// computed in one pass over A before it.
enum class NormKind : int { kRms, kLayer };
struct NormPrologue {
  NormKind kind = NormKind::kRms;
  const float *inv = nullptr;  // [m]: 1 / sqrt(mean square + eps), or 1 / sqrt(var + eps)
  const float *mean = nullptr; // [m], kLayer only
  const float *w = nullptr;    // [k]
  const float *b = nullptr;    // [k], kLayer only, nullable
  float offset = 0.0f;         // kRms: 1 for a unit-offset weight, else 0
};

/// The RoPE epilogue (tessel_gemm_rope_f32): in each row i of c, heads
/// [0, heads) of headDim columns are rotated in place by the code of
/// tessel_rope_f32, with row i's tables at cos/sin + i * tableStride (see
/// ropeTokenTables). Applied to a block of rows as soon as the last K block
/// has finished the columns of a head; columns from heads * headDim on
/// pass through.
struct RopeEpilogue {
  int64_t heads = 0, headDim = 0, rot = 0;
  int layout = TESSEL_ROPE_INTERLEAVED;
  const float *cos = nullptr, *sin = nullptr; // [m, tableStride]
  int64_t tableStride = 0;
};

/// One GEMM: c[m, n] (+)= a[m, k] * op(b) (+ bias) (+ addend), op(b) = b^T
/// for kNK; or, with `bUp`, the gated c = act(a b^T) * (a bUp^T).
struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;
  const float *a = nullptr;
  int64_t lda = 0;
  const float *b = nullptr; // unused when `packed` is set
  int64_t ldb = 0;
  BLayout layout = BLayout::kNK;
  const float *packed = nullptr; // weights in the tessel_gemm_pack_w_f32 layout
  const float *bias = nullptr;   // [n], added once (not with `accumulate`)
  float *c = nullptr;
  int64_t ldc = 0;
  bool accumulate = false; // c += ... instead of c = ...
  // [m, n] at addend[i*ldAddend + j] (kNK only), added once, when the tile
  // of the first K block is stored: it may be c itself (same stride), since
  // c holds nothing of the result before that store.
  const float *addend = nullptr;
  int64_t ldAddend = 0;
  // Gated linear unit (kNK, not packed, no bias/addend/accumulate): `b` is
  // the gate weight, `bUp` the up weight, both [n, k] with ldb.
  const float *bUp = nullptr;
  Activation glu = Activation::kSilu;
  // Norm prologue (nullable): A is normalised as it is packed. Packed path
  // only (m > kSkinnyRows); the policy normalises the rows of a skinny GEMM
  // into scratch instead.
  const NormPrologue *norm = nullptr;
  // RoPE epilogue (nullable; kNK, no addend, not gated). Region columns must
  // start at a multiple of headDim (and of kPanel, or of 4 when skinny), so
  // that no head is split between threads.
  const RopeEpilogue *rope = nullptr;
};

/// Whether a GEMM takes the skinny path (no packing; see kSkinnyRows and
/// kDotRows) rather than the packed one. A property of the whole GEMM, so
/// that every thread's region computes its rows the same way.
inline bool TakesDotPath(const GemmArgs &g) {
  if (g.packed)
    return false;
  return g.m <= kSkinnyRows || (g.layout == BLayout::kNK && g.m <= kDotRows);
}

//===----------------------------------------------------------------------===//
// RoPE angle tables (Rope.cc), shared by tessel_rope_f32 and the GEMM's RoPE
// epilogue so that both rotate by exactly the same floats.
//===----------------------------------------------------------------------===//

/// Floats in one token's cos (and in its sin) table: rot when interleaved
/// (each entry per lane, see rope-inl.h), rot / 2 when half-split.
int64_t ropeTableWidth(int layout, int64_t rot);

/// invFreq[i] = theta^(-2i / rot) / ff[i] in f64, i < rot / 2; ff nullable.
void ropeInvFreq(float theta, int64_t rot, const float *freqFactors, double *invFreq);

/// The cos and sin tables of one token at `position`, in the layout
/// RopeTokenImpl reads: angle_i = (position / linearScaling) * invFreq[i],
/// in f64, rounded to f32 after cos/sin.
void ropeTokenTables(int layout, int64_t rot, const double *invFreq, int64_t position,
                     float linearScaling, float *cs, float *sn);

class ThreadPool;

/// The tables of `m` tokens at `positions`: m rows of cos, then m rows of
/// sin, ropeTableWidth(layout, rot) floats each. Kept in the calling thread's
/// scratch and returned as they are while the arguments are the same: a
/// step's queries and keys, in every layer, rotate the same positions, so
/// the step computes cos and sin once (f64, ~1 us a token) instead of twice
/// per layer. Valid until the thread's next call.
const float *ropeTables(int layout, int64_t rot, float theta, float linearScaling,
                        const float *freqFactors, const int64_t *positions, int64_t m,
                        ThreadPool *pool);

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// Query rows processed together against one K/V tile: the scores tile is
/// kAttentionRows x kv_tile floats (64 x 128 x 4 B = 32 KiB, L1/L2) and the
/// rows are a GEMM's M, large enough to use the packed micro-kernel. Rows are
/// (query position, head of the KV group) pairs, so a GQA group shares K/V.
constexpr int64_t kAttentionRows = 64;

/// Decode splits the KV range across threads (flash-decoding) only when each
/// split still gets this many keys; below that the combine costs more.
constexpr int64_t kMinKeysPerSplit = 256;

/// One flash-attention tile; see tessel_flash_tile_f32. `maskRows` (nullable)
/// holds one pointer per row (each nullable) to that row's key flags, indexed
/// by maskOffset + j.
struct TileArgs {
  int64_t rows = 0, keys = 0, headDim = 0, vDim = 0;
  const float *q = nullptr;
  int64_t qStride = 0;
  const float *k = nullptr;
  int64_t kStride = 0;
  const float *v = nullptr;
  int64_t vStride = 0;
  float scale = 1.0f;
  const int64_t *qPos = nullptr;
  int64_t kPos0 = 0;
  bool causal = false;
  int64_t window = 0;
  const uint8_t *const *maskRows = nullptr;
  int64_t maskOffset = 0;
  float *m = nullptr, *l = nullptr, *acc = nullptr;
  int64_t accStride = 0;
};

//===----------------------------------------------------------------------===//
// Scratch memory
//===----------------------------------------------------------------------===//

/// Slots of per-thread scratch, so that nested users never share a buffer.
enum class Scratch : int {
  kPackA,
  kPackB,
  kScores,
  kAttnQ,
  kAttnState,
  kAttnQT,  // a prefill block's Q^T (TransposedBlock)
  kAttnAcc, // a prefill block's output accumulators (TransposedBlock)
  kPositions,
  kMaskRows,
  kGluAcc,
  kNormRows,
  kRopeTables,
  kQ8Rows,  // input rows rounded to q8_0 (tessel_gemm_q8in_f32)
  kQ8Panel, // weight rows re-laid for the q8_0-input GEMM (Q8Panel)
  kCount
};

/// A thread-local, 64-byte aligned buffer of at least `bytes` bytes for `slot`;
/// it grows as needed and is reused by later calls on the same thread.
void *scratch(Scratch slot, size_t bytes);

template <class T> T *scratchOf(Scratch slot, size_t count) {
  return static_cast<T *>(scratch(slot, count * sizeof(T)));
}

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_INTERNAL_H
