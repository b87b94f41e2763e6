//===- quant-inl.h - per-target code for weights in GGUF block formats -*- C++ -*-===//
//
// Included once per Highway target (foreach_target.h) by QuantGemv.cc, which
// holds the policy (thread splits, scratch). Weights stay in the file's
// format (bf16, q8_0, q4_0; see Kernels.h for the layouts) and are turned
// into f32 here, in registers, as they stream past:
//  - GEMV (decode): four weight rows at a time against x, each weight byte
//    read once. A q8_0 / q4_0 block's 32 products are summed first and the
//    sum scaled by the block's f16 scale d once, i.e. d * sum_j q_j x_j
//    instead of sum_j (d q_j) x_j: one multiply per block instead of one per
//    vector, and no rounding lost, since d * q_j is exact in f32 (11 + 8
//    significant bits).
//  - GEMM (prefill, m > 4; smaller m runs the GEMV per row): a block of
//    weight rows x one K block is dequantized into f32 scratch, exactly as
//    frontends' dequantizeRow does, and handed to the f32 GEMM of
//    gemm-inl.h as that block's weights; the weights are decoded once per
//    call, however many rows A has.
//
//===----------------------------------------------------------------------===//

// Target-independent records, compiled once (outside the per-target guard).
#ifndef TESSEL_RUNTIME_KERNELS_QUANT_INL_H_RECORDS
#define TESSEL_RUNTIME_KERNELS_QUANT_INL_H_RECORDS

#include <cstdint>

namespace tessel::kernels {

/// The GGUF block formats the kernels read (the values are GGML's type ids,
/// as TESSEL_WEIGHT_* in Kernels.h).
enum class QuantFormat : int { kQ4_0 = 2, kQ8_0 = 8, kBf16 = 30 };

/// Values per q8_0 / q4_0 block, and the bytes of one block: an f16 scale,
/// then 32 int8 (q8_0) or 16 bytes of 4-bit values (q4_0).
constexpr int64_t kQuantBlock = 32;
constexpr int64_t kQ8_0Bytes = 2 + kQuantBlock;
constexpr int64_t kQ4_0Bytes = 2 + kQuantBlock / 2;

/// Weight rows dequantized together by the prefill GEMM: 256 rows x one K
/// block of 256 (kKC) in f32 is 256 KiB of scratch, which stays in L2 next
/// to the GEMM's own packed copy of it (the same size) while that copy is
/// made. A multiple of TESSEL_GEMM_PANEL, so that the f32 GEMM's panels
/// start at the same columns as in one call over all of W.
constexpr int64_t kQuantNC = 256;

/// c[m, n] = a[m, k] W^T + bias, row j of W at w + j * ldw bytes. The GEMV
/// uses m = 1, a = x, c = y.
struct QuantArgs {
  QuantFormat format = QuantFormat::kQ8_0;
  int64_t m = 0, n = 0, k = 0;
  const float *a = nullptr;
  int64_t lda = 0;
  const uint8_t *w = nullptr;
  int64_t ldw = 0; // bytes
  const float *bias = nullptr;
  float *c = nullptr;
  int64_t ldc = 0;
};

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_QUANT_INL_H_RECORDS

// Per-target include guard (the idiom of hwy/examples/skeleton-inl.h).
#if defined(TESSEL_RUNTIME_KERNELS_QUANT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_QUANT_INL_H_
#undef TESSEL_RUNTIME_KERNELS_QUANT_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_QUANT_INL_H_
#endif

#include <algorithm>
#include <cstring>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "runtime/kernels/Internal.h"
#include "runtime/kernels/gemm-inl.h"
#include "runtime/kernels/rowops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
// A namespace of their own, so that these helpers' generic names (Load16,
// LoadBf16, ...) cannot collide with other -inl.h files in one TU.
namespace quant {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 lanes: a q4_0 block is two halves of 16 values (low and high
// nibbles), each a whole number of vectors. AVX-512: one vector per half.
using DQ = hn::CappedTag<float, 16>;
using VQ = hn::Vec<DQ>;

HWY_INLINE uint16_t Load16(const uint8_t *p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// An f16 block scale -> f32, exactly (every f16 is an f32), like
// frontends' halfToFloat. One instruction with F16C (AVX2 and up); else the
// exponent is rebased by a multiply, which also renormalises subnormals.
HWY_INLINE float HalfToF32(const uint8_t *p) {
  const uint16_t h = Load16(p);
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2 && !defined(HWY_DISABLE_F16C)
  return _cvtsh_ss(h);
#else
  uint32_t bits = static_cast<uint32_t>(h & 0x7fffu) << 13;
  float f;
  if ((h & 0x7c00u) == 0x7c00u) { // inf / NaN: keep the payload
    bits |= 0x7f800000u;
    std::memcpy(&f, &bits, 4);
  } else { // exponent bias 15 -> 127: times 2^112
    std::memcpy(&f, &bits, 4);
    f *= 5.192296858534828e33f; // 0x1p112
  }
  std::memcpy(&bits, &f, 4);
  bits |= static_cast<uint32_t>(h & 0x8000u) << 16;
  std::memcpy(&f, &bits, 4);
  return f;
#endif
}

// The 32 values of a q8_0 block (int8 at qs) times x[0..32), summed, before
// the scale. L <= 16 is a power of two, so 2L divides 32. Two partial sums
// shorten the dependency chain; with 16 lanes (AVX-512) the block is two
// vectors, one multiply and one FMA.
HWY_INLINE VQ BlockDotQ8(const uint8_t *HWY_RESTRICT qs, const float *HWY_RESTRICT x) {
  const DQ d;
  const hn::RebindToSigned<DQ> di;
  const hn::Rebind<int8_t, DQ> d8;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int8_t *q = reinterpret_cast<const int8_t *>(qs);
  auto value = [&](int64_t j) { return hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(d8, q + j))); };
  VQ s0 = hn::Mul(value(0), hn::LoadU(d, x));
  if (2 * L == kQuantBlock) // AVX-512: one chain of two
    return hn::MulAdd(value(L), hn::LoadU(d, x + L), s0);
  VQ s1 = hn::Mul(value(L), hn::LoadU(d, x + L));
  for (int64_t j = 2 * L; j < kQuantBlock; j += 2 * L) {
    s0 = hn::MulAdd(value(j), hn::LoadU(d, x + j), s0);
    s1 = hn::MulAdd(value(j + L), hn::LoadU(d, x + j + L), s1);
  }
  return hn::Add(s0, s1);
}

// Values [j, j+L) and [16+j, 16+j+L) of a q4_0 block as f32 (nibble - 8),
// from the block's 16 bytes of nibbles at qs: byte j holds value j in its
// low nibble and value j + 16 in its high one, so one load of L bytes,
// widened to i32, gives both by a mask and a shift.
HWY_INLINE void Q4Values(const uint8_t *HWY_RESTRICT qs, int64_t j, VQ &lo, VQ &hi) {
  const DQ d;
  const hn::RebindToSigned<DQ> di;
  const hn::RebindToUnsigned<DQ> du;
  const hn::Rebind<uint8_t, DQ> d8;
  const auto u = hn::PromoteTo(du, hn::LoadU(d8, qs + j));
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  // AVX-512: vpermps reads only the low 4 bits of each index, so a table of
  // the 16 values -8..7 turns a nibble into its f32 value in one
  // instruction, mask, offset and conversion included (4 fewer per block).
  const VQ table = hn::Iota(d, -8.0f);
  lo = VQ{_mm512_permutexvar_ps(u.raw, table.raw)};
  hi = VQ{_mm512_permutexvar_ps(hn::ShiftRight<4>(u).raw, table.raw)};
  (void)di;
#else
  const auto v = hn::BitCast(di, u);
  const auto eight = hn::Set(di, 8);
  lo = hn::ConvertTo(d, hn::Sub(hn::And(v, hn::Set(di, 0x0f)), eight));
  hi = hn::ConvertTo(d, hn::Sub(hn::ShiftRight<4>(v), eight));
#endif
}

// The q4_0 block's values times x[0..32), summed, before the scale; the
// shape of BlockDotQ8.
HWY_INLINE VQ BlockDotQ4(const uint8_t *HWY_RESTRICT qs, const float *HWY_RESTRICT x) {
  const DQ d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  constexpr int64_t kHalf = kQuantBlock / 2;
  VQ lo, hi;
  Q4Values(qs, 0, lo, hi);
  VQ s0 = hn::Mul(lo, hn::LoadU(d, x));
  if (L == kHalf) // AVX-512: one chain of two
    return hn::MulAdd(hi, hn::LoadU(d, x + kHalf), s0);
  VQ s1 = hn::Mul(hi, hn::LoadU(d, x + kHalf));
  for (int64_t j = L; j < kHalf; j += L) {
    Q4Values(qs, j, lo, hi);
    s0 = hn::MulAdd(lo, hn::LoadU(d, x + j), s0);
    s1 = hn::MulAdd(hi, hn::LoadU(d, x + kHalf + j), s1);
  }
  return hn::Add(s0, s1);
}

// Fetches the lines at p0..p3 into L2 (not L1: the current group's rows
// live there). The GEMV passes the same offsets in a group of rows ~6 KiB
// on (PrefetchRowsAhead), so that it streams in while this one is computed. Why: the
// hardware prefetchers alone kept too few lines in flight for a loop that
// spends this long on each byte; on the AVX-512 build machine (Zen 4 VM,
// n = k = 4096, one thread) q8_0 went from 12 to 19 GB/s, q4_0 from 6.1 to
// 8.3 GB/s, against ~20 GB/s for the f32 GEMV. A T0 prefetch (into L1)
// gained half as much; prefetching a fixed 0.5-4 KiB ahead in the same
// rows gained nothing measurable. Prefetches never fault, so a group past
// the end is harmless, but the caller passes offset 0 there instead.
HWY_INLINE void PrefetchAhead(const uint8_t *p0, const uint8_t *p1, const uint8_t *p2,
                              const uint8_t *p3) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p0, 0, 1);
  __builtin_prefetch(p1, 0, 1);
  __builtin_prefetch(p2, 0, 1);
  __builtin_prefetch(p3, 0, 1);
#else
  hwy::Prefetch(p0), hwy::Prefetch(p1), hwy::Prefetch(p2), hwy::Prefetch(p3);
#endif
}

// How many rows ahead (a multiple of four) the GEMVs prefetch: at least
// ~6 KiB, whatever the row length. Four rows ahead was measured right for
// rows of 2-9 KiB but too close for short ones: q4_0 rows of 768 values
// (432 bytes) streamed 17-25 GB/s on two threads four rows ahead, 22-31
// GB/s sixteen rows ahead (n = 768-32000).
HWY_INLINE int64_t PrefetchRowsAhead(int64_t rowBytes) {
  constexpr int64_t kAheadBytes = 6 << 10;
  const int64_t groups = (kAheadBytes + 4 * rowBytes - 1) / std::max<int64_t>(4 * rowBytes, 1);
  return 4 * std::max<int64_t>(groups, 1);
}

// out[i] = sum_p w_i[p] x[p] for four rows of a block format: per block,
// acc_i += d_i * (block dot). The four rows' blocks are independent, so the
// four accumulators (and the two partial sums inside each block dot) keep
// enough FMAs in flight; the loop is bound by the weight stream. Each row's
// result depends only on that row (no value crosses rows), so a row gets
// the same bits in whichever group of four, and on whichever thread, it is.
template <QuantFormat kFormat>
HWY_INLINE void BlockDot4(int64_t k, const float *HWY_RESTRICT x, const uint8_t *w0,
                          const uint8_t *w1, const uint8_t *w2, const uint8_t *w3, int64_t ahead,
                          float *out) {
  const DQ d;
  constexpr int64_t kBytes = kFormat == QuantFormat::kQ8_0 ? kQ8_0Bytes : kQ4_0Bytes;
  auto blockDot = [](const uint8_t *blk, const float *xb) {
    return kFormat == QuantFormat::kQ8_0 ? BlockDotQ8(blk + 2, xb) : BlockDotQ4(blk + 2, xb);
  };
  VQ a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  const int64_t blocks = k / kQuantBlock;
  for (int64_t b = 0; b < blocks; ++b) {
    const float *xb = x + b * kQuantBlock;
    const int64_t o = b * kBytes;
    PrefetchAhead(w0 + o + ahead, w1 + o + ahead, w2 + o + ahead, w3 + o + ahead);
    a0 = hn::MulAdd(blockDot(w0 + o, xb), hn::Set(d, HalfToF32(w0 + o)), a0);
    a1 = hn::MulAdd(blockDot(w1 + o, xb), hn::Set(d, HalfToF32(w1 + o)), a1);
    a2 = hn::MulAdd(blockDot(w2 + o, xb), hn::Set(d, HalfToF32(w2 + o)), a2);
    a3 = hn::MulAdd(blockDot(w3 + o, xb), hn::Set(d, HalfToF32(w3 + o)), a3);
  }
  out[0] = hn::GetLane(hn::SumOfLanes(d, a0));
  out[1] = hn::GetLane(hn::SumOfLanes(d, a1));
  out[2] = hn::GetLane(hn::SumOfLanes(d, a2));
  out[3] = hn::GetLane(hn::SumOfLanes(d, a3));
}

// L bf16 values (upper halves of f32) at p -> f32: widen, shift up.
HWY_INLINE VQ LoadBf16(const uint8_t *p) {
  const DQ d;
  const hn::RebindToUnsigned<DQ> du;
  const hn::Rebind<uint16_t, DQ> d16;
  const auto h = hn::LoadU(d16, reinterpret_cast<const uint16_t *>(p));
  return hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(du, h)));
}

HWY_INLINE float Bf16ToF32(const uint8_t *p) {
  const uint32_t bits = static_cast<uint32_t>(Load16(p)) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// The bf16 form of BlockDot4 (any k): two accumulators per row, as in
// gemm-inl.h's Dot4, and a scalar tail.
HWY_INLINE void Bf16Dot4(int64_t k, const float *HWY_RESTRICT x, const uint8_t *w0,
                         const uint8_t *w1, const uint8_t *w2, const uint8_t *w3, int64_t ahead,
                         float *out) {
  const DQ d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  VQ a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  VQ b0 = hn::Zero(d), b1 = hn::Zero(d), b2 = hn::Zero(d), b3 = hn::Zero(d);
  int64_t p = 0;
  for (; p + 2 * L <= k; p += 2 * L) {
    const int64_t o = 2 * p + ahead;
    PrefetchAhead(w0 + o, w1 + o, w2 + o, w3 + o);
    const VQ x0 = hn::LoadU(d, x + p), x1 = hn::LoadU(d, x + p + L);
    a0 = hn::MulAdd(LoadBf16(w0 + 2 * p), x0, a0);
    a1 = hn::MulAdd(LoadBf16(w1 + 2 * p), x0, a1);
    a2 = hn::MulAdd(LoadBf16(w2 + 2 * p), x0, a2);
    a3 = hn::MulAdd(LoadBf16(w3 + 2 * p), x0, a3);
    b0 = hn::MulAdd(LoadBf16(w0 + 2 * (p + L)), x1, b0);
    b1 = hn::MulAdd(LoadBf16(w1 + 2 * (p + L)), x1, b1);
    b2 = hn::MulAdd(LoadBf16(w2 + 2 * (p + L)), x1, b2);
    b3 = hn::MulAdd(LoadBf16(w3 + 2 * (p + L)), x1, b3);
  }
  for (; p + L <= k; p += L) {
    const VQ x0 = hn::LoadU(d, x + p);
    a0 = hn::MulAdd(LoadBf16(w0 + 2 * p), x0, a0);
    a1 = hn::MulAdd(LoadBf16(w1 + 2 * p), x0, a1);
    a2 = hn::MulAdd(LoadBf16(w2 + 2 * p), x0, a2);
    a3 = hn::MulAdd(LoadBf16(w3 + 2 * p), x0, a3);
  }
  float s0 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, b0)));
  float s1 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a1, b1)));
  float s2 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a2, b2)));
  float s3 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a3, b3)));
  for (; p < k; ++p) {
    s0 = MulAddLane(x[p], Bf16ToF32(w0 + 2 * p), s0);
    s1 = MulAddLane(x[p], Bf16ToF32(w1 + 2 * p), s1);
    s2 = MulAddLane(x[p], Bf16ToF32(w2 + 2 * p), s2);
    s3 = MulAddLane(x[p], Bf16ToF32(w3 + 2 * p), s3);
  }
  out[0] = s0, out[1] = s1, out[2] = s2, out[3] = s3;
}

// y[r] = W[r, :] x + bias[r] for rows [row0, row1) (q.m == 1). Rows go in
// fours; a last group of fewer rows repeats its last row (already in L1)
// instead of taking another code path, so that every row is computed by
// the same instructions.
template <QuantFormat kFormat>
HWY_INLINE void QuantGemvRowsT(const QuantArgs &q, int64_t row0, int64_t row1) {
  float sums[4];
  for (int64_t r = row0; r < row1; r += 4) {
    const uint8_t *w[4];
    for (int64_t i = 0; i < 4; ++i)
      w[i] = q.w + std::min(r + i, row1 - 1) * q.ldw;
    const int64_t rowsAhead = PrefetchRowsAhead(q.ldw); // a whole group that far on, if any
    const int64_t ahead = r + rowsAhead + 4 <= row1 ? rowsAhead * q.ldw : 0;
    if constexpr (kFormat == QuantFormat::kBf16)
      Bf16Dot4(q.k, q.a, w[0], w[1], w[2], w[3], ahead, sums);
    else
      BlockDot4<kFormat>(q.k, q.a, w[0], w[1], w[2], w[3], ahead, sums);
    for (int64_t i = 0; i < std::min<int64_t>(4, row1 - r); ++i)
      q.c[r + i] = q.bias ? sums[i] + q.bias[r + i] : sums[i];
  }
}

HWY_INLINE void QuantGemvRowsImpl(const QuantArgs &q, int64_t row0, int64_t row1) {
  switch (q.format) {
  case QuantFormat::kQ8_0:
    return QuantGemvRowsT<QuantFormat::kQ8_0>(q, row0, row1);
  case QuantFormat::kQ4_0:
    return QuantGemvRowsT<QuantFormat::kQ4_0>(q, row0, row1);
  case QuantFormat::kBf16:
    return QuantGemvRowsT<QuantFormat::kBf16>(q, row0, row1);
  }
}

// dst[0..len) = the f32 values [p0, p0 + len) of one weight row, as
// frontends' dequantizeRow computes them (d * q, exact in f32). For the
// block formats p0 and len are multiples of 32.
HWY_INLINE void DequantSpan(QuantFormat format, const uint8_t *row, int64_t p0, int64_t len,
                            float *HWY_RESTRICT dst) {
  const DQ d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  if (format == QuantFormat::kBf16) {
    const uint8_t *src = row + 2 * p0;
    int64_t p = 0;
    for (; p + L <= len; p += L)
      hn::StoreU(LoadBf16(src + 2 * p), d, dst + p);
    for (; p < len; ++p)
      dst[p] = Bf16ToF32(src + 2 * p);
    return;
  }
  const hn::RebindToSigned<DQ> di;
  const hn::Rebind<int8_t, DQ> d8;
  const bool q8 = format == QuantFormat::kQ8_0;
  const int64_t bytes = q8 ? kQ8_0Bytes : kQ4_0Bytes;
  for (int64_t b = 0; b < len / kQuantBlock; ++b) {
    const uint8_t *blk = row + (p0 / kQuantBlock + b) * bytes;
    float *out = dst + b * kQuantBlock;
    const VQ scale = hn::Set(d, HalfToF32(blk));
    if (q8) {
      const int8_t *qs = reinterpret_cast<const int8_t *>(blk + 2);
      for (int64_t j = 0; j < kQuantBlock; j += L)
        hn::StoreU(hn::Mul(hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(d8, qs + j))), scale), d,
                   out + j);
      continue;
    }
    for (int64_t j = 0; j < kQuantBlock / 2; j += L) {
      VQ lo, hi;
      Q4Values(blk + 2, j, lo, hi);
      hn::StoreU(hn::Mul(lo, scale), d, out + j);
      hn::StoreU(hn::Mul(hi, scale), d, out + kQuantBlock / 2 + j);
    }
  }
}

// C rows [row0, row1) x columns [col0, col1) of the prefill GEMM (col0 a
// multiple of TESSEL_GEMM_PANEL): for each kQuantNC weight rows and each K
// block of kKC, the block is dequantized into `buf` (kQuantNC * kKC
// floats) and run through GemmRegionImpl as a GEMM of depth kc that
// accumulates onto c after the first K block. The packed path (m >
// kSkinnyRows, which the policy ensures) splits K at the same kKC
// boundaries and accumulates the same way, so the result is bit for bit
// tessel_gemm_f32 on the dequantized weights.
HWY_INLINE void QuantGemmRegionImpl(const QuantArgs &q, float *buf, int64_t row0, int64_t row1,
                                    int64_t col0, int64_t col1) {
  for (int64_t jc = col0; jc < col1; jc += kQuantNC) {
    const int64_t nc = std::min(kQuantNC, col1 - jc);
    GemmArgs g;
    g.m = q.m, g.n = nc, g.a = q.a, g.lda = q.lda, g.b = buf;
    g.c = q.c + jc, g.ldc = q.ldc;
    g.bias = q.bias ? q.bias + jc : nullptr;
    if (q.k == 0) { // c = bias (or 0)
      GemmRegionImpl(g, row0, row1, 0, nc);
      continue;
    }
    for (int64_t pc = 0; pc < q.k; pc += kKC) {
      const int64_t kc = std::min(kKC, q.k - pc);
      for (int64_t j = 0; j < nc; ++j)
        DequantSpan(q.format, q.w + (jc + j) * q.ldw, pc, kc, buf + j * kc);
      g.k = kc, g.a = q.a + pc, g.ldb = kc;
      g.accumulate = pc > 0; // then c holds the bias already
      if (pc > 0)
        g.bias = nullptr;
      GemmRegionImpl(g, row0, row1, 0, nc);
    }
  }
}

} // namespace quant
} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_QUANT_INL_H_
