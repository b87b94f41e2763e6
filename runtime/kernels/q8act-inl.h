//===- q8act-inl.h - per-target code for q8_0 activations x q8_0/q4_0 weights -*- C++ -*-===//
//
// Included once per Highway target by QuantGemv.cc. The products of a
// linear layer whose input rows are rounded to q8_0 (`input_format =
// "q8_0"` on tessel.linear / tessel.ffn) and whose weights are q8_0 or
// q4_0 blocks: every block product is an integer dot product of int8
// values, sum_j qx_j qw_j, scaled by the two blocks' scales. The integer
// sums are exact, whatever instructions compute them, so every target
// gives a block the same value; only the f32 sum over blocks differs in
// order.
//  - AVX3_DL (AVX512-VNNI, VBMI): `vpdpbusd` multiplies 64 u8 x s8 pairs
//    into 16 int32 lanes per instruction. One zmm holds four q4_0 blocks'
//    nibbles (gathered from their 72 bytes by one `vpermt2b`) or two q8_0
//    blocks; the four or two f16 scales come from the same bytes by a
//    `vpermw` and one conversion. Per 128 q4_0 weights and row that is
//    ~13 instructions, against ~40 for the f32-activation kernel.
//  - Other targets: the same integer sums in scalar code (exact), for
//    correctness on CPUs without VNNI rather than speed.
//
// The activation rows are rounded once per call (QuantizeRowsQ8) into a
// layout made for the weights' format, so that the kernels load it whole:
// see Q8Layout below.
//
//===----------------------------------------------------------------------===//

// Target-independent records, compiled once (outside the per-target guard).
#ifndef TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_RECORDS
#define TESSEL_RUNTIME_KERNELS_Q8ACT_INL_H_RECORDS

#include <cstdint>

namespace tessel::kernels {

/// One activation row rounded to q8_0, as llama.cpp rounds activations for
/// its integer dot products: per block of 32 values x_j, d = max_j |x_j| /
/// 127 and q_j = x_j * (1/d) rounded to the nearest integer, ties to even
/// (0 for an all-zero block); the row then stands for the values d * q_j.
/// Stored in groups of four blocks (the last group padded with zero
/// blocks: q = 0, d = 0), laid out for the weights' format:
///  - q4_0 weights, 256 bytes a group: lo[64] (values 0-15 of block i at
///    16i), hi[64] (values 16-31), dx[16] f32 (block i's d at 4i..4i+3),
///    bias[16] int32 (-8 * sum_j q_j of block i at 4i, 0 elsewhere: the
///    weights' offset of 8, taken off once per block).
///  - q8_0 weights, 384 bytes a group: q[128] (block i at 32i), dx[32] f32
///    (block i's d at 8i..8i+7), bias[32] int32 (-128 * sum_j q_j at 8i:
///    the kernels add 128 to the signed weights to make them unsigned).
struct Q8Layout {
  static constexpr int64_t kBlocksPerGroup = 4;
  static constexpr int64_t kQ4GroupBytes = 256;
  static constexpr int64_t kQ8GroupBytes = 384;

  static int64_t groups(int64_t k) { return (k / 32 + kBlocksPerGroup - 1) / kBlocksPerGroup; }
  static int64_t rowBytes(bool q4, int64_t k) {
    return groups(k) * (q4 ? kQ4GroupBytes : kQ8GroupBytes);
  }
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
#include <cmath>
#include <cstring>

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

// Rounds one row x[0..k) (k a multiple of 32) into `out` (Q8Layout for
// q4_0 or q8_0 weights). The rounding is scalar-exact: the same d, 1/d and
// products as the reference evaluator's (reference/Ops.cpp roundToQ8_0).
HWY_INLINE void QuantizeRow(const float *HWY_RESTRICT x, int64_t k, bool q4, uint8_t *out) {
  const int64_t blocks = k / 32;
  const int64_t groups = Q8Layout::groups(k);
  const int64_t groupBytes = q4 ? Q8Layout::kQ4GroupBytes : Q8Layout::kQ8GroupBytes;
  std::memset(out, 0, static_cast<size_t>(groups * groupBytes));
  const hn::CappedTag<float, 16> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t b = 0; b < blocks; ++b) {
    const float *xb = x + 32 * b;
    auto amax = hn::Zero(d);
    for (int64_t j = 0; j < 32; j += L)
      amax = hn::Max(amax, hn::Abs(hn::LoadU(d, xb + j)));
    const float scale = hn::GetLane(hn::MaxOfLanes(d, amax)) / 127.0f;
    const float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    int8_t q[32];
    int32_t sum = 0;
    for (int64_t j = 0; j < 32; ++j) {
      // lrintf rounds to nearest, ties to even (the default rounding mode),
      // as the reference's std::nearbyint does.
      const long v = std::lrintf(xb[j] * inverse);
      q[j] = static_cast<int8_t>(std::clamp<long>(v, -127, 127));
      sum += q[j];
    }
    uint8_t *group = out + (b / 4) * groupBytes;
    const int64_t i = b % 4;
    if (q4) {
      std::memcpy(group + 16 * i, q, 16);
      std::memcpy(group + 64 + 16 * i, q + 16, 16);
      auto *dx = reinterpret_cast<float *>(group + 128);
      auto *bias = reinterpret_cast<int32_t *>(group + 192);
      for (int64_t r = 0; r < 4; ++r)
        dx[4 * i + r] = scale;
      bias[4 * i] = -8 * sum;
    } else {
      std::memcpy(group + 32 * i, q, 32);
      auto *dx = reinterpret_cast<float *>(group + 128);
      auto *bias = reinterpret_cast<int32_t *>(group + 256);
      for (int64_t r = 0; r < 8; ++r)
        dx[8 * i + r] = scale;
      bias[8 * i] = -128 * sum;
    }
  }
}

// Block `b` (of a row's k / 32) of an activation row in Q8Layout, read
// back: its scale, the sum of its q, and value j.
struct ActBlock {
  const uint8_t *group;
  int64_t i;
  bool q4;
  float scale() const {
    float s;
    std::memcpy(&s, group + 128 + 4 * (q4 ? 4 * i : 8 * i), 4);
    return s;
  }
  int8_t value(int64_t j) const {
    const uint8_t *p =
        q4 ? group + (j < 16 ? 16 * i + j : 64 + 16 * i + j - 16) : group + 32 * i + j;
    return static_cast<int8_t>(*p);
  }
};

// The scalar kernel (every target; the only one without VNNI): per block
// the integer dot product, then acc += (dw * dx) * isum in f32.
HWY_INLINE float DotRowScalar(const uint8_t *w, const uint8_t *act, int64_t k, bool q4) {
  const int64_t blockBytes = q4 ? kQ4_0Bytes : kQ8_0Bytes;
  const int64_t groupBytes = q4 ? Q8Layout::kQ4GroupBytes : Q8Layout::kQ8GroupBytes;
  float acc = 0.0f;
  for (int64_t b = 0; b < k / 32; ++b) {
    const uint8_t *blk = w + b * blockBytes;
    const ActBlock a{act + (b / 4) * groupBytes, b % 4, q4};
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

#if TESSEL_Q8ACT_VNNI
TESSEL_VNNI_BEGIN

// Byte and word permutations that gather a group's weights from its raw
// blocks (see Q4Group / Q8Pair).
struct VnniTables {
  __m512i q4Nibbles, q4Scales, q8Values, q8Scales;
  VnniTables() {
    alignas(64) uint8_t nib[64];
    alignas(64) uint16_t q4s[32], q8v16[32];
    alignas(64) uint8_t q8v[64];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 16; ++j)
        nib[16 * i + j] = static_cast<uint8_t>(18 * i + 2 + j); // < 72: a (0-63), b (64-71)
    for (int w = 0; w < 32; ++w)
      q4s[w] = static_cast<uint16_t>(9 * std::min(w / 4, 3)); // block i's scale: word 9i
    for (int j = 0; j < 64; ++j)
      q8v[j] = static_cast<uint8_t>(j < 32 ? 2 + j : 36 + (j - 32)); // block 1 at byte 34
    for (int w = 0; w < 32; ++w)
      q8v16[w] = static_cast<uint16_t>(w < 8 ? 0 : 17); // scales at words 0 and 17
    q4Nibbles = _mm512_load_si512(nib);
    q4Scales = _mm512_load_si512(q4s);
    q8Values = _mm512_load_si512(q8v);
    q8Scales = _mm512_load_si512(q8v16);
  }
};

HWY_INLINE const VnniTables &Tables() {
  static const VnniTables tables;
  return tables;
}

// Four q4_0 blocks (72 bytes at p) against one activation group: adds
// sum_i dw_i dx_i isum_i to acc (lanes 4i..4i+3 hold block i's parts).
HWY_INLINE __m512 Q4Group(const uint8_t *p, __m512i lo, __m512i hi, __m512 dx, __m512i bias,
                          const VnniTables &t, __m512 acc) {
  const __m512i a = _mm512_loadu_si512(p);
  const __m512i b =
      _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(p + 64)));
  const __m512i nibbles = _mm512_permutex2var_epi8(a, t.q4Nibbles, b);
  const __m512 dw =
      _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(t.q4Scales, a)));
  const __m512i mask = _mm512_set1_epi8(0x0f);
  const __m512i wlo = _mm512_and_si512(nibbles, mask);
  const __m512i whi = _mm512_and_si512(_mm512_srli_epi16(nibbles, 4), mask);
  __m512i isum = _mm512_dpbusd_epi32(bias, wlo, lo);
  isum = _mm512_dpbusd_epi32(isum, whi, hi);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, dx), acc);
}

// Two q8_0 blocks (68 bytes at p) against half an activation group (q:
// 64 values, dx / bias: 16 lanes): the weights + 128 as u8 (xor 0x80),
// the activations' bias taking the 128 back off.
HWY_INLINE __m512 Q8Pair(const uint8_t *p, __m512i q, __m512 dx, __m512i bias, const VnniTables &t,
                         __m512 acc) {
  const __m512i a = _mm512_loadu_si512(p);
  const __m512i values = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 2))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 2 + kQ8_0Bytes)), 1);
  const __m512 dw =
      _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(t.q8Scales, a)));
  const __m512i unsignedW = _mm512_xor_si512(values, _mm512_set1_epi8(static_cast<char>(0x80)));
  const __m512i isum = _mm512_dpbusd_epi32(bias, unsignedW, q);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, dx), acc);
}

// One group of four blocks of four weight rows (row r's bytes at
// rows[r] + o) against activation group g: acc[r] += its products.
HWY_INLINE void Group4Rows(const uint8_t *const rows[4], int64_t o, const uint8_t *g, bool q4,
                           const VnniTables &t, __m512 acc[4]) {
  if (q4) {
    const __m512i lo = _mm512_loadu_si512(g), hi = _mm512_loadu_si512(g + 64);
    const __m512 dx = _mm512_loadu_ps(g + 128);
    const __m512i bias = _mm512_loadu_si512(g + 192);
    for (int r = 0; r < 4; ++r)
      acc[r] = Q4Group(rows[r] + o, lo, hi, dx, bias, t, acc[r]);
    return;
  }
  for (int half = 0; half < 2; ++half) {
    const __m512i q = _mm512_loadu_si512(g + 64 * half);
    const __m512 dx = _mm512_loadu_ps(g + 128 + 64 * half);
    const __m512i bias = _mm512_loadu_si512(g + 256 + 64 * half);
    for (int r = 0; r < 4; ++r)
      acc[r] = Q8Pair(rows[r] + o + 2 * kQ8_0Bytes * half, q, dx, bias, t, acc[r]);
  }
}

// out[r] = row r of W (four rows at w[r]) . the activation row, over all
// of k; the last partial group of blocks is copied into zeroed bytes first
// (zero weights and scales past the row's end, never read past it).
// Not inlined: its callers are compiled without avx512vnni.
HWY_NOINLINE void Dot4Vnni(const uint8_t *const w[4], const uint8_t *act, int64_t k, bool q4,
                           int64_t ahead, float out[4]) {
  const VnniTables &t = Tables();
  const int64_t blocks = k / 32;
  const int64_t full = blocks / 4;
  const int64_t blockBytes = q4 ? kQ4_0Bytes : kQ8_0Bytes;
  const int64_t groupWeightBytes = 4 * blockBytes;
  const int64_t groupBytes = q4 ? Q8Layout::kQ4GroupBytes : Q8Layout::kQ8GroupBytes;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
  for (int64_t gi = 0; gi < full; ++gi) {
    const int64_t o = gi * groupWeightBytes;
    if (ahead) { // the next four rows' group: every line its bytes touch
      // (72 bytes of q4_0 span 2 lines, 136 of q8_0 3).
      for (int64_t at = o + ahead; at < o + ahead + groupWeightBytes + 63; at += 64) {
        const int64_t p = std::min(at, o + ahead + groupWeightBytes - 1);
        quant::PrefetchAhead(w[0] + p, w[1] + p, w[2] + p, w[3] + p);
      }
    }
    Group4Rows(w, o, act + gi * groupBytes, q4, t, acc);
  }
  if (const int64_t rest = blocks - 4 * full; rest > 0) {
    alignas(64) uint8_t padded[4][4 * kQ8_0Bytes] = {};
    const uint8_t *rows[4];
    for (int r = 0; r < 4; ++r) {
      std::memcpy(padded[r], w[r] + full * groupWeightBytes,
                  static_cast<size_t>(rest * blockBytes));
      rows[r] = padded[r];
    }
    Group4Rows(rows, 0, act + full * groupBytes, q4, t, acc);
  }
  for (int r = 0; r < 4; ++r)
    out[r] = _mm512_reduce_add_ps(acc[r]);
}

TESSEL_VNNI_END
#endif // TESSEL_Q8ACT_VNNI

// y[r] = W[r, :] . x_q + bias[r] for rows [row0, row1) of a q8_0 / q4_0 W,
// x_q one activation row in Q8Layout. Rows go in fours (a last short group
// repeats its last row), each computed by the same instructions wherever
// it falls: the result does not depend on the thread split.
HWY_INLINE void GemvRows(bool q4, int64_t k, const uint8_t *act, const uint8_t *w, int64_t ldw,
                         const float *bias, float *y, int64_t row0, int64_t row1) {
  float sums[4];
  for (int64_t r = row0; r < row1; r += 4) {
    const uint8_t *rows[4];
    for (int64_t i = 0; i < 4; ++i)
      rows[i] = w + std::min(r + i, row1 - 1) * ldw;
#if TESSEL_Q8ACT_VNNI
    const int64_t ahead = r + 8 <= row1 ? 4 * ldw : 0;
    Dot4Vnni(rows, act, k, q4, ahead, sums);
#else
    for (int64_t i = 0; i < 4; ++i)
      sums[i] = DotRowScalar(rows[i], act, k, q4);
#endif
    for (int64_t i = 0; i < std::min<int64_t>(4, row1 - r); ++i)
      y[r + i] = bias ? sums[i] + bias[r + i] : sums[i];
  }
}

// C[i, r] for activation rows i < m (row i's rounded values at acts + i *
// actStride) and weight rows [row0, row1): each group of four weight rows
// is read from memory once and from L1 for every activation row of a
// chunk; chunks keep the activation rows they hold in L2 (256 KiB).
HWY_INLINE void GemmRows(bool q4, int64_t k, const uint8_t *acts, int64_t actStride, int64_t m,
                         const uint8_t *w, int64_t ldw, const float *bias, float *c, int64_t ldc,
                         int64_t row0, int64_t row1) {
  const int64_t chunk =
      std::max<int64_t>(1, (int64_t{256} << 10) / std::max<int64_t>(actStride, 1));
  float sums[4];
  for (int64_t i0 = 0; i0 < m; i0 += chunk) {
    const int64_t i1 = std::min(m, i0 + chunk);
    for (int64_t r = row0; r < row1; r += 4) {
      const uint8_t *rows[4];
      for (int64_t j = 0; j < 4; ++j)
        rows[j] = w + std::min(r + j, row1 - 1) * ldw;
      for (int64_t i = i0; i < i1; ++i) {
        const uint8_t *act = acts + i * actStride;
#if TESSEL_Q8ACT_VNNI
        Dot4Vnni(rows, act, k, q4, /*ahead=*/0, sums);
#else
        for (int64_t j = 0; j < 4; ++j)
          sums[j] = DotRowScalar(rows[j], act, k, q4);
#endif
        float *out = c + i * ldc;
        for (int64_t j = 0; j < std::min<int64_t>(4, row1 - r); ++j)
          out[r + j] = bias ? sums[j] + bias[r + j] : sums[j];
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
