//===- q8act-inl.h - per-target code for q8_0 activations x q8_0/q4_0 weights -*- C++ -*-===//
//
// Included once per Highway target by QuantGemv.cc. The products of a
// layer whose input rows are rounded to q8_0 (`input_format = "q8_0"` on
// tessel.linear, tessel.ffn, tessel.moe, tessel.mla) and whose weights are
// q8_0 or q4_0 blocks: every block product is an integer dot product of int8
// values, sum_j qx_j qw_j, scaled by the two blocks' scales. The integer
// sums are exact, whatever instructions compute them, so every target
// gives a block the same value; only the f32 sum over blocks differs in
// order.
//  - AVX3_DL (AVX512-VNNI, VBMI): `vpdpbusd` multiplies 64 u8 x s8 pairs
//    into 16 int32 lanes per instruction. Two zmm hold values 0-15 and
//    16-31 of four blocks, block i in 128-bit lane i: gathered from a q4_0
//    group's 72 bytes by one `vpermt2b`, from a q8_0 group's 136 by two;
//    the four f16 scales come from the same bytes by a `vpermw` /
//    `vpermt2w` and one conversion. Per 128 q4_0 weights and row that is
//    ~13 instructions, against ~40 for the f32-activation kernel; a tile of
//    4 weight rows x up to 4 input rows unpacks each weight group once.
//  - Other targets: the same integer sums in scalar code (exact), for
//    correctness on CPUs without VNNI rather than speed.
//
// The activation rows are rounded once per call (QuantizeRow) into the
// lanes the unpacked weights use, so that the kernels load them whole: see
// Q8Layout below.
//
//===----------------------------------------------------------------------===//

// Target-independent records, compiled once (outside the per-target guard).
#ifndef TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_RECORDS
#define TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_RECORDS

#include <cstdint>

#include "runtime/kernels/Kernels.h"

namespace tessel::kernels {

/// One activation row rounded to q8_0, as llama.cpp rounds activations for
/// its integer dot products: per block of 32 values x_j, d = max_j |x_j| /
/// 127 and q_j = x_j * (1/d) rounded to the nearest integer, ties to even
/// (0 for an all-zero block); the row then stands for the values d * q_j.
/// Stored in groups of four blocks (the last group padded with zero
/// blocks: q = 0, d = 0) of 256 bytes, so that block i of a group fills
/// 128-bit lane i of each vector: lo[64] (values 0-15 of block i at 16i),
/// hi[64] (values 16-31), dx[16] f32 (block i's d at 4i..4i+3) and bias[16]
/// int32 (at 4i, 0 elsewhere): -8 * sum_j q_j for q4_0 weights (their
/// offset of 8, taken off once per block), -128 * sum_j q_j for q8_0 ones
/// (the kernels add 128 to the signed weights to make them unsigned).
struct Q8Layout {
  static constexpr int64_t kBlocksPerGroup = 4;
  static constexpr int64_t kGroupBytes = 256;

  static int64_t groups(int64_t k) { return (k / 32 + kBlocksPerGroup - 1) / kBlocksPerGroup; }
  static int64_t rowBytes(int64_t k) { return groups(k) * kGroupBytes; }
};

/// The GEMM of many activation rows (prefill) on VNNI targets: weight rows
/// are re-laid in panels of kRows, per block of 32 values eight vectors of
/// [row r][values 4q..4q+3 as u8] (q = 0..7) and the kRows scales as f32
/// (kBlockBytes per block). One `vpdpbusd` then adds a quad of one
/// activation row (broadcast) to the block sums of all 16 weight rows, one
/// int32 lane per row: a block costs eight `vpdpbusd` and three float
/// instructions per activation row, against Tile's three float
/// instructions per two `vpdpbusd`. Calls with at least kMinActivationRows
/// rows take it; the weight rows are re-laid per call, per thread.
struct Q8Panel {
  static constexpr int64_t kRows = 16;
  static constexpr int64_t kBlockBytes = 9 * 64;
  static constexpr int64_t kMinActivationRows = kQ8InputPanelMinRows;
};

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_RECORDS

#if defined(TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_
#undef TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_
#endif

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "hwy/highway.h"
#include "runtime/kernels/quant-inl.h"

// The VNNI kernels need `avx512vnni`, which Highway 1.0.3's AVX3_DL target
// string leaves out (it names the VEX `avxvnni` instead): added for them.
#if HWY_TARGET == HWY_AVX3_DL && (defined(__clang__) || defined(__GNUC__))
#define TESSEL_Q8ACT_VNNI 1
#if defined(__clang__)
#define TESSEL_VNNI_BEGIN                                                                          \
  _Pragma("clang attribute push(__attribute__((target(\"avx512vnni\"))), apply_to = function)")
#define TESSEL_VNNI_END _Pragma("clang attribute pop")
#else
#define TESSEL_VNNI_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512vnni\")")
#define TESSEL_VNNI_END _Pragma("GCC pop_options")
#endif
#else
#define TESSEL_Q8ACT_VNNI 0
#endif

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace q8act {
namespace hn = hwy::HWY_NAMESPACE;
using quant::HalfToF32;

// Rounds one row x[0..k) (k a multiple of 32) into `out` (Q8Layout, with
// the bias for q4_0 or q8_0 weights). The rounding is scalar-exact: the same d, 1/d and
// products as the reference evaluator's (reference/Ops.cpp roundToQ8_0).
HWY_INLINE void QuantizeRow(const float *HWY_RESTRICT x, int64_t k, bool q4, uint8_t *out) {
  const int64_t blocks = k / 32;
  const int64_t groups = Q8Layout::groups(k);
  const int64_t groupBytes = Q8Layout::kGroupBytes;
  std::memset(out, 0, static_cast<size_t>(groups * groupBytes));
  const hn::CappedTag<float, 16> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<int8_t, decltype(d)> d8;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t b = 0; b < blocks; ++b) {
    const float *xb = x + 32 * b;
    auto amax = hn::Zero(d);
    for (int64_t j = 0; j < 32; j += L)
      amax = hn::Max(amax, hn::Abs(hn::LoadU(d, xb + j)));
    const float scale = hn::GetLane(hn::MaxOfLanes(d, amax)) / 127.0f;
    const float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    // The same f32 product x * (1/d) as the reference, rounded to nearest,
    // ties to even (NearestInt: the default rounding mode, as the
    // reference's std::nearbyint), so the values are the reference's
    // exactly. |x / d| <= 127 up to rounding; the clamp only guards that.
    alignas(64) int8_t q[32];
    auto total = hn::Zero(di);
    for (int64_t j = 0; j < 32; j += L) {
      const auto v =
          hn::Min(hn::Max(hn::NearestInt(hn::Mul(hn::LoadU(d, xb + j), hn::Set(d, inverse))),
                          hn::Set(di, -127)),
                  hn::Set(di, 127));
      total = hn::Add(total, v);
      hn::StoreU(hn::DemoteTo(d8, v), d8, q + j);
    }
    const int32_t sum = hn::GetLane(hn::SumOfLanes(di, total));
    uint8_t *group = out + (b / 4) * groupBytes;
    const int64_t i = b % 4;
    std::memcpy(group + 16 * i, q, 16);
    std::memcpy(group + 64 + 16 * i, q + 16, 16);
    auto *dx = reinterpret_cast<float *>(group + 128);
    auto *bias = reinterpret_cast<int32_t *>(group + 192);
    for (int64_t r = 0; r < 4; ++r)
      dx[4 * i + r] = scale;
    bias[4 * i] = (q4 ? -8 : -128) * sum;
  }
}

// Block i (0-3) of an activation group in Q8Layout, read back: its scale
// and value j.
struct ActBlock {
  const uint8_t *group;
  int64_t i;
  float scale() const {
    float s;
    std::memcpy(&s, group + 128 + 16 * i, 4);
    return s;
  }
  int8_t value(int64_t j) const {
    return static_cast<int8_t>(group[j < 16 ? 16 * i + j : 64 + 16 * i + j - 16]);
  }
};

// The scalar kernel (every target; the only one without VNNI): per block
// the integer dot product, then acc += (dw * dx) * isum in f32.
HWY_INLINE float DotRowScalar(const uint8_t *w, const uint8_t *act, int64_t k, bool q4) {
  const int64_t blockBytes = q4 ? kQ4_0Bytes : kQ8_0Bytes;
  float acc = 0.0f;
  for (int64_t b = 0; b < k / 32; ++b) {
    const uint8_t *blk = w + b * blockBytes;
    const ActBlock a{act + (b / 4) * Q8Layout::kGroupBytes, b % 4};
    int32_t isum = 0;
    for (int64_t j = 0; j < 32; ++j) {
      const int32_t wq =
          q4 ? static_cast<int32_t>(j < 16 ? (blk[2 + j] & 0x0f) : (blk[2 + j - 16] >> 4)) - 8
             : static_cast<int32_t>(static_cast<int8_t>(blk[2 + j]));
      isum += wq * a.value(j);
    }
    acc += HalfToF32(blk) * a.scale() * static_cast<float>(isum);
  }
  return acc;
}

#if HWY_TARGET == HWY_AVX3_DL
// 16 bytes from each of 16 rows (row r at w + r * ldw + at; rows from
// `live` on read as zero, and only the first `bytes` of each row are read,
// the rest zero), transposed into four vectors: out[d] lane r = dword d of
// row r. Rows go four to a vector, one per 128-bit lane, then a 4 x 4
// transpose within the lanes: 16 loads and 8 shuffles for what would be
// four vpgatherdd, which cost ~28 cycles each on Zen 4. Used to re-lay
// weight panels (Q8Panel, Bf16Panel).
HWY_INLINE void Transpose16x4(const uint8_t *w, int64_t ldw, int64_t live, int64_t at,
                              int64_t bytes, __m512i out[4]) {
  const __mmask16 keep =
      bytes >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << bytes) - 1);
  auto row = [&](int64_t r) {
    return r < live ? _mm_maskz_loadu_epi8(keep, w + r * ldw + at) : _mm_setzero_si128();
  };
  __m512i z[4];
  for (int i = 0; i < 4; ++i) {
    __m512i v = _mm512_castsi128_si512(row(i));
    v = _mm512_inserti32x4(v, row(4 + i), 1);
    v = _mm512_inserti32x4(v, row(8 + i), 2);
    z[i] = _mm512_inserti32x4(v, row(12 + i), 3);
  }
  // Per 128-bit lane l, z[i] = row 4l + i: [i0 i1 i2 i3].
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]); // [00 10 01 11]
  const __m512i t1 = _mm512_unpackhi_epi32(z[0], z[1]); // [02 12 03 13]
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]); // [20 30 21 31]
  const __m512i t3 = _mm512_unpackhi_epi32(z[2], z[3]); // [22 32 23 33]
  out[0] = _mm512_unpacklo_epi64(t0, t2);
  out[1] = _mm512_unpackhi_epi64(t0, t2);
  out[2] = _mm512_unpacklo_epi64(t1, t3);
  out[3] = _mm512_unpackhi_epi64(t1, t3);
}

// Fetches into L2 the lines that start at a byte offset in [from, to) of
// rows [0, rows) (row r at w + r * ldw), so that callers walking a row in
// consecutive spans fetch each line once. The re-laying of a panel calls it
// on the next panel's rows with the span it is reading, so the next panel
// streams in while
// this one is computed: a panel is 16 short streams (an expert's 512-1024
// values), too short for the hardware prefetchers, and with an MoE expert's
// ~32 input rows its compute is too short to hide a cold re-lay. Measured
// on the two-vCPU Zen 4 VM (MoE of 8 experts top 2, dim 512, hidden 1024,
// 128 tokens, 2 threads): bf16 4.47 -> 3.52 ms, q8_0 3.02 -> 2.29, q4_0
// 2.34 -> 2.17. Prefetches never fault; rows = 0 past the last panel.
HWY_INLINE void PrefetchRowBytes(const uint8_t *w, int64_t ldw, int64_t rows, int64_t from,
                                 int64_t to) {
  for (int64_t at = (from + 63) & ~int64_t{63}; at < to; at += 64)
    for (int64_t r = 0; r < rows; ++r)
      __builtin_prefetch(w + r * ldw + at, 0, 1);
}

// 4 bytes at p (any alignment): a broadcast operand of the panel kernels.
HWY_INLINE int32_t LoadI32(const uint8_t *p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

HWY_INLINE float LoadF32(const uint8_t *p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// f(std::integral_constant<int, R>{}) for R = rows (1-8): a tile height
// known at run time made a template argument.
template <class F> HWY_INLINE void WithTileRows(int64_t rows, F &&f) {
  switch (rows) {
  case 1:
    return f(std::integral_constant<int, 1>{});
  case 2:
    return f(std::integral_constant<int, 2>{});
  case 3:
    return f(std::integral_constant<int, 3>{});
  case 4:
    return f(std::integral_constant<int, 4>{});
  case 5:
    return f(std::integral_constant<int, 5>{});
  case 6:
    return f(std::integral_constant<int, 6>{});
  case 7:
    return f(std::integral_constant<int, 7>{});
  default:
    return f(std::integral_constant<int, 8>{});
  }
}

// The loops of the panel GEMMs (Q8Panel, Bf16Panel): c[i, r] for input rows
// i < m (at acts + i * actStride) and weight rows [row0, row1). For each
// chunk of input rows (one that stays in L2) and each panel of 16 weight
// rows, repack(r, live, nextLive, panel) re-lays rows [r, r + live) into
// this thread's `panel` (and prefetches the next panel's nextLive rows: see
// PrefetchRowBytes), then tile(act, rows, acc) computes acc[a] (lane j:
// weight row r + j) for each tile of up to 8 input rows; the bias is added
// and the live lanes stored.
template <class Repack, class Tile>
HWY_INLINE void PanelGemm(int64_t m, const uint8_t *acts, int64_t actStride, const float *bias,
                          float *c, int64_t ldc, int64_t row0, int64_t row1, uint8_t *panel,
                          const Repack &repack, const Tile &tile) {
  constexpr int64_t kPanelRows = 16;
  // Up to this many input rows the next panel is prefetched while this one
  // is computed (PrefetchRowBytes). With more, the hardware prefetchers
  // have the time, and the prefetched lines, which land in L1 as well on
  // Zen 4, cost more than they save: bf16, m = 128, n = 2048, k = 768, two
  // threads, 420 -> 380 GFLOP/s with them.
  constexpr int64_t kPrefetchMaxRows = 64;
  const int64_t chunk =
      std::max<int64_t>(8, (int64_t{512} << 10) / std::max<int64_t>(actStride, 1));
  __m512 acc[8];
  for (int64_t i0 = 0; i0 < m; i0 += chunk) {
    const int64_t i1 = std::min(m, i0 + chunk);
    for (int64_t r = row0; r < row1; r += kPanelRows) {
      const int64_t live = std::min(kPanelRows, row1 - r);
      const int64_t nextLive = i1 - i0 <= kPrefetchMaxRows
                                   ? std::clamp<int64_t>(row1 - r - kPanelRows, 0, kPanelRows)
                                   : 0;
      repack(r, live, nextLive, panel);
      const __mmask16 lanes = static_cast<__mmask16>((uint32_t{1} << live) - 1);
      const __m512 add = bias ? _mm512_maskz_loadu_ps(lanes, bias + r) : _mm512_setzero_ps();
      for (int64_t i = i0; i < i1; i += 8) {
        const int64_t rows = std::min<int64_t>(8, i1 - i);
        const uint8_t *act[8];
        for (int64_t a = 0; a < rows; ++a)
          act[a] = acts + (i + a) * actStride;
        tile(act, rows, acc);
        for (int64_t a = 0; a < rows; ++a)
          _mm512_mask_storeu_ps(c + (i + a) * ldc + r, lanes,
                                bias ? _mm512_add_ps(acc[a], add) : acc[a]);
      }
    }
  }
}
#endif

#if TESSEL_Q8ACT_VNNI
TESSEL_VNNI_BEGIN

// Byte and word permutations that gather a group's weights from its raw
// blocks (see UnpackQ4 / UnpackQ8).
struct VnniTables {
  __m512i q4Nibbles, q4Scales, q8Lo, q8Hi, q8Scales;
  VnniTables() {
    alignas(64) uint8_t nib[64], lo[64], hi[64];
    alignas(64) uint16_t q4s[32], q8s[32];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 16; ++j) {
        nib[16 * i + j] = static_cast<uint8_t>(18 * i + 2 + j); // < 72: bytes 0-63, then 64-71
        lo[16 * i + j] = static_cast<uint8_t>(34 * i + 2 + j);  // < 120: bytes 0-63, 64-127
        hi[16 * i + j] = static_cast<uint8_t>(34 * i + 10 + j); // from byte 8: 8-71, 72-135
      }
    for (int w = 0; w < 32; ++w) {
      q4s[w] = static_cast<uint16_t>(9 * std::min(w / 4, 3));  // block i's scale: word 9i
      q8s[w] = static_cast<uint16_t>(17 * std::min(w / 4, 3)); // word 17i (51: second table)
    }
    q4Nibbles = _mm512_load_si512(nib);
    q4Scales = _mm512_load_si512(q4s);
    q8Lo = _mm512_load_si512(lo);
    q8Hi = _mm512_load_si512(hi);
    q8Scales = _mm512_load_si512(q8s);
  }
};

HWY_INLINE const VnniTables &Tables() {
  static const VnniTables tables;
  return tables;
}

// One weight row's share of a group, unpacked: the u8 values 0-15 (lo) and
// 16-31 (hi) of four blocks (q4_0 nibbles, or q8_0 values + 128), block i
// in 128-bit lane i, and its four scales, each over its lane's four sums.
struct GroupWeights {
  __m512i lo, hi;
  __m512 dw;
};

// The group's `blocks` (1-4) blocks at p. A partial group (a row's last) is
// read by a masked load, which never touches the bytes past its blocks;
// the lanes past them get zero nibbles and scales.
HWY_INLINE GroupWeights UnpackQ4(const uint8_t *p, int64_t blocks, const VnniTables &t) {
  __m512i a, b;
  if (blocks == 4) {
    a = _mm512_loadu_si512(p);
    b = _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(p + 64)));
  } else {
    a = _mm512_maskz_loadu_epi8((uint64_t{1} << (kQ4_0Bytes * blocks)) - 1, p);
    b = _mm512_setzero_si512();
  }
  const __m512i nibbles = _mm512_permutex2var_epi8(a, t.q4Nibbles, b);
  const __m512i mask = _mm512_set1_epi8(0x0f);
  GroupWeights w;
  w.lo = _mm512_and_si512(nibbles, mask);
  w.hi = _mm512_and_si512(_mm512_srli_epi16(nibbles, 4), mask);
  w.dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(t.q4Scales, a)));
  return w;
}

// A q8_0 group in the same form: values 0-15 (lo) and 16-31 (hi) of four
// blocks as u8 (value + 128, so that vpdpbusd takes them; the activations'
// bias takes the 128 back off), gathered from the group's 136 bytes by two
// vpermt2b, and the scales by a vpermt2w. A partial group reads only its
// blocks (masked loads); the rest is zero.
HWY_INLINE GroupWeights UnpackQ8(const uint8_t *p, int64_t blocks, const VnniTables &t) {
  __m512i a, b, c, d; // bytes 0-63, 64-127, 8-71, 72-135
  if (blocks == 4) {
    a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 64);
    c = _mm512_loadu_si512(p + 8), d = _mm512_loadu_si512(p + 72);
  } else {
    const int64_t bytes = kQ8_0Bytes * blocks;
    auto masked = [&](int64_t from) {
      const int64_t n = std::clamp<int64_t>(bytes - from, 0, 64);
      return _mm512_maskz_loadu_epi8(n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1, p + from);
    };
    a = masked(0), b = masked(64), c = masked(8), d = masked(72);
  }
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  GroupWeights w;
  w.lo = _mm512_xor_si512(_mm512_permutex2var_epi8(a, t.q8Lo, b), flip);
  w.hi = _mm512_xor_si512(_mm512_permutex2var_epi8(c, t.q8Hi, d), flip);
  w.dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(a, t.q8Scales, b)));
  return w;
}

// The sums of the lanes of a, b, c and d, as [sum a, sum b, sum c, sum d]:
// one tree for all four (13 instructions, against ~8 per vector alone).
HWY_INLINE __m128 Sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  // Per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] and the same of c, d.
  const __m512 abcd =
      _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xee));
  const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm512_extractf32x8_ps(abcd, 1));
  return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

// out[i][r] = weight row r (of four at w[r]) . activation row i (of R at
// act[i]) over all of k. Each weight group is unpacked once for the R
// activation rows, two weight rows at a time (4R accumulators stay in
// registers). Every (i, r) sums its groups in the same order and reduces
// by Sum4 whatever R is, so a product has the same bits in the GEMV (R =
// 1) and in any tile of the GEMM. `ahead` > 0: the weights that far past
// each group are prefetched (rows a few KiB on, in the GEMV).
template <int R, bool kQ4>
HWY_NOINLINE void Tile(const uint8_t *const w[4], const uint8_t *const act[R], int64_t k,
                       int64_t ahead, float out[R][4]) {
  const VnniTables &t = Tables();
  const int64_t blocks = k / 32;
  const int64_t groups = Q8Layout::groups(k);
  constexpr int64_t kWeightBytes = 4 * (kQ4 ? kQ4_0Bytes : kQ8_0Bytes);
  __m512 acc[R][4];
  for (int i = 0; i < R; ++i)
    for (int r = 0; r < 4; ++r)
      acc[i][r] = _mm512_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t o = g * kWeightBytes, nb = std::min<int64_t>(4, blocks - 4 * g);
    if (ahead) { // every line of the next rows' group (q4_0: 2, q8_0: 3)
      for (int64_t at = o + ahead; at < o + ahead + kWeightBytes + 63; at += 64) {
        const int64_t p = std::min(at, o + ahead + kWeightBytes - 1);
        quant::PrefetchAhead(w[0] + p, w[1] + p, w[2] + p, w[3] + p);
      }
    }
    for (int pair = 0; pair < 2; ++pair) {
      const int r0 = 2 * pair;
      const GroupWeights w0 = kQ4 ? UnpackQ4(w[r0] + o, nb, t) : UnpackQ8(w[r0] + o, nb, t);
      const GroupWeights w1 = kQ4 ? UnpackQ4(w[r0 + 1] + o, nb, t) : UnpackQ8(w[r0 + 1] + o, nb, t);
      for (int i = 0; i < R; ++i) {
        const uint8_t *a = act[i] + g * Q8Layout::kGroupBytes;
        const __m512i lo = _mm512_loadu_si512(a), hi = _mm512_loadu_si512(a + 64);
        const __m512 dx = _mm512_loadu_ps(a + 128);
        const __m512i bias = _mm512_loadu_si512(a + 192);
        const __m512i s0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias, w0.lo, lo), w0.hi, hi);
        const __m512i s1 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias, w1.lo, lo), w1.hi, hi);
        acc[i][r0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_mul_ps(w0.dw, dx), acc[i][r0]);
        acc[i][r0 + 1] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_mul_ps(w1.dw, dx), acc[i][r0 + 1]);
      }
    }
  }
  for (int i = 0; i < R; ++i)
    _mm_storeu_ps(out[i], Sum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
}

// Tile<R> for R = rows (1-4) and the weights' format.
template <int R>
HWY_INLINE void TileOf(bool q4, const uint8_t *const w[4], const uint8_t *const act[R], int64_t k,
                       int64_t ahead, float out[R][4]) {
  if (q4)
    Tile<R, true>(w, act, k, ahead, out);
  else
    Tile<R, false>(w, act, k, ahead, out);
}

// out[i][r] for `rows` (1-4) activation rows: the tile of that height.
HWY_NOINLINE void TileRows(bool q4, const uint8_t *const w[4], const uint8_t *const *act,
                           int64_t rows, int64_t k, int64_t ahead, float out[4][4]) {
  switch (rows) {
  case 1:
    return TileOf<1>(q4, w, act, k, ahead, out);
  case 2:
    return TileOf<2>(q4, w, act, k, ahead, out);
  case 3:
    return TileOf<3>(q4, w, act, k, ahead, out);
  default:
    return TileOf<4>(q4, w, act, k, ahead, out);
  }
}

// Weight rows [0, live) of a panel (live <= 16, row r at w + r * ldw; the
// lanes past `live` are zero) re-laid as Q8Panel describes, for `blocks`
// blocks: per block, its values by Transpose16x4 (q8_0: values 0-15 and
// 16-31, two calls; q4_0: the 16 bytes of nibbles, one), its scales by one
// gather of the f16 scale and the block's first two values (always inside
// the block). The same bytes of the next panel's `nextLive` rows (from w +
// 16 * ldw) are prefetched as it goes (PrefetchRowBytes).
HWY_INLINE void RepackPanel(bool q4, const uint8_t *w, int64_t ldw, int64_t live, int64_t blocks,
                            uint8_t *panel, int64_t nextLive) {
  const __m512i rowOffsets =
      _mm512_mullo_epi32(_mm512_set1_epi32(static_cast<int32_t>(ldw)),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const __mmask16 rows = static_cast<__mmask16>((uint32_t{1} << live) - 1);
  const int64_t blockBytes = q4 ? kQ4_0Bytes : kQ8_0Bytes;
  const uint8_t *next = w + Q8Panel::kRows * ldw;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t at = b * blockBytes;
    PrefetchRowBytes(next, ldw, nextLive, at, at + blockBytes);
    auto *out = reinterpret_cast<__m512i *>(panel + b * Q8Panel::kBlockBytes);
    __m512i v[4];
    if (q4) { // byte j of a block holds values j (low nibble) and j + 16
      const __m512i nibble = _mm512_set1_epi8(0x0f);
      Transpose16x4(w, ldw, live, at + 2, 16, v);
      for (int d = 0; d < 4; ++d) {
        _mm512_store_si512(out + d, _mm512_and_si512(v[d], nibble));
        _mm512_store_si512(out + 4 + d, _mm512_and_si512(_mm512_srli_epi32(v[d], 4), nibble));
      }
    } else { // value + 128 as u8; the activations' bias takes the 128 back off
      const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
      for (int half = 0; half < 2; ++half) {
        Transpose16x4(w, ldw, live, at + 2 + 16 * half, 16, v);
        for (int d = 0; d < 4; ++d)
          _mm512_store_si512(out + 4 * half + d, _mm512_xor_si512(v[d], flip));
      }
    }
    // Lanes past `live` gathered 0: scale 0, so their sums are 0.
    const __m512i scales =
        _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), rows, rowOffsets, w + at, 1);
    _mm512_store_ps(reinterpret_cast<float *>(out + 8),
                    _mm512_cvtph_ps(_mm512_cvtepi32_epi16(scales)));
  }
}

// acc[i] lane r = weight row r of the panel . activation row i (of R at
// act[i], Q8Layout) over `blocks` blocks. Per block, each activation row's
// 16 block sums are exact int32 (its bias, then eight vpdpbusd of a
// broadcast quad), then acc = fma(f32(sum), dw * dx, acc): the same
// instructions for every R, so a product does not depend on its tile.
template <int R>
HWY_NOINLINE void PanelTile(const uint8_t *panel, int64_t blocks, const uint8_t *const act[R],
                            __m512 acc[R]) {
  // Locals, so that the compiler keeps them in registers: stores to acc
  // could alias the input rows' bytes.
  const uint8_t *rows[R];
  __m512 totals[R];
  for (int i = 0; i < R; ++i)
    rows[i] = act[i], totals[i] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t *pb = panel + b * Q8Panel::kBlockBytes;
    // Block b of an activation row: group b / 4, 128-bit lane b % 4.
    const int64_t at = (b / 4) * Q8Layout::kGroupBytes + 16 * (b % 4);
    __m512i sums[R];
    for (int i = 0; i < R; ++i)
      sums[i] = _mm512_set1_epi32(LoadI32(rows[i] + at + 192));
    for (int q = 0; q < 8; ++q) {
      const __m512i weights = _mm512_load_si512(pb + 64 * q);
      const int64_t quad = at + (q < 4 ? 4 * q : 64 + 4 * (q - 4));
      for (int i = 0; i < R; ++i)
        sums[i] = _mm512_dpbusd_epi32(sums[i], weights, _mm512_set1_epi32(LoadI32(rows[i] + quad)));
    }
    const __m512 dw = _mm512_load_ps(pb + 512);
    for (int i = 0; i < R; ++i)
      totals[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[i]),
                                  _mm512_mul_ps(dw, _mm512_set1_ps(LoadF32(rows[i] + at + 128))),
                                  totals[i]);
  }
  for (int i = 0; i < R; ++i)
    acc[i] = totals[i];
}

// GemmRows for m >= Q8Panel::kMinActivationRows: PanelGemm with the
// q8_0 / q4_0 panels.
HWY_NOINLINE void PanelGemmRows(bool q4, int64_t k, const uint8_t *acts, int64_t actStride,
                                int64_t m, const uint8_t *w, int64_t ldw, const float *bias,
                                float *c, int64_t ldc, int64_t row0, int64_t row1) {
  const int64_t blocks = k / 32;
  auto *panel =
      scratchOf<uint8_t>(Scratch::kQ8Panel, std::max<int64_t>(1, blocks) * Q8Panel::kBlockBytes);
  PanelGemm(
      m, acts, actStride, bias, c, ldc, row0, row1, panel,
      [&](int64_t r, int64_t live, int64_t nextLive, uint8_t *p) {
        RepackPanel(q4, w + r * ldw, ldw, live, blocks, p, nextLive);
      },
      [&](const uint8_t *const *act, int64_t rows, __m512 *acc) {
        WithTileRows(rows, [&](auto R) { PanelTile<R()>(panel, blocks, act, acc); });
      });
}

TESSEL_VNNI_END
#endif // TESSEL_Q8ACT_VNNI

// C[i, r] = W[r, :] . x_i + bias[r] for activation rows i < m (row i's
// rounded values at acts + i * actStride) and weight rows [row0, row1) of a
// q8_0 / q4_0 W. Weight rows go in fours (a last short group repeats its
// last row) against tiles of up to four activation rows; a group of weight
// rows is read from memory once and from L1 for each tile of a chunk of
// activation rows that stays in L2 (256 KiB). Each C[i, r] is computed by
// the same instructions for any m, tile or thread split (see Tile).
HWY_INLINE void GemmRows(bool q4, int64_t k, const uint8_t *acts, int64_t actStride, int64_t m,
                         const uint8_t *w, int64_t ldw, const float *bias, float *c, int64_t ldc,
                         int64_t row0, int64_t row1) {
#if TESSEL_Q8ACT_VNNI
  // Row offsets within a panel are int32 lanes of the gathers.
  if (m >= Q8Panel::kMinActivationRows && ldw * (Q8Panel::kRows - 1) <= INT32_MAX)
    return PanelGemmRows(q4, k, acts, actStride, m, w, ldw, bias, c, ldc, row0, row1);
#endif
  const int64_t chunk =
      std::max<int64_t>(4, (int64_t{256} << 10) / std::max<int64_t>(actStride, 1));
  float sums[4][4];
  for (int64_t i0 = 0; i0 < m; i0 += chunk) {
    const int64_t i1 = std::min(m, i0 + chunk);
    for (int64_t r = row0; r < row1; r += 4) {
      const uint8_t *rows[4];
      for (int64_t j = 0; j < 4; ++j)
        rows[j] = w + std::min(r + j, row1 - 1) * ldw;
      const int64_t live = std::min<int64_t>(4, row1 - r);
      for (int64_t i = i0; i < i1; i += 4) {
        const int64_t tile = std::min<int64_t>(4, i1 - i);
        const uint8_t *act[4];
        for (int64_t a = 0; a < tile; ++a)
          act[a] = acts + (i + a) * actStride;
#if TESSEL_Q8ACT_VNNI
        // The GEMV's rows a few KiB on stream in while this group computes.
        const int64_t rowsAhead = quant::PrefetchRowsAhead(ldw);
        const int64_t ahead = m == 1 && r + rowsAhead + 4 <= row1 ? rowsAhead * ldw : 0;
        TileRows(q4, rows, act, tile, k, ahead, sums);
#else
        for (int64_t a = 0; a < tile; ++a)
          for (int64_t j = 0; j < 4; ++j)
            sums[a][j] = DotRowScalar(rows[j], act[a], k, q4);
#endif
        for (int64_t a = 0; a < tile; ++a) {
          float *out = c + (i + a) * ldc;
          for (int64_t j = 0; j < live; ++j)
            out[r + j] = bias ? sums[a][j] + bias[r + j] : sums[a][j];
        }
      }
    }
  }
}

} // namespace q8act
} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#undef TESSEL_Q8ACT_VNNI
#undef TESSEL_VNNI_BEGIN
#undef TESSEL_VNNI_END

#endif // TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_
