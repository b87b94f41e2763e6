//===- bf16act-inl.h - per-target code for bf16 activations x bf16 weights -*- C++ -*-===//
//
// Included once per Highway target by QuantGemv.cc. The products of a
// layer whose input rows are rounded to bf16 (`input_format = "bf16"`) and
// whose weights are stored as bf16, as llama.cpp computes them: every
// product of two bf16 values is exact in f32, only the f32 sums round.
//  - Many rows (prefill) on CPUs with AVX512_BF16 (Zen 4, Sapphire
//    Rapids): `vdpbf16ps` adds two products per f32 lane, 32 per
//    instruction against an FMA's 16. Weight rows are re-laid per call in
//    panels of 16 (per pair of values, one vector of [row r][2 x bf16]), so
//    that one instruction with a broadcast pair of an input row adds to all
//    16 rows' sums, one f32 lane per row (the layout of q8act-inl.h's
//    Q8Panel, without blocks or scales).
//  - Otherwise the input rows are rounded to bf16 values in f32 and go
//    through the bf16-weight GEMV / GEMM of quant-inl.h.
// `vdpbf16ps` treats denormal inputs and results as zero (as llama.cpp's
// kernels do); the reference's products keep them, a difference far below
// the tolerance of any sum that has a normal term.
//
//===----------------------------------------------------------------------===//

// Target-independent records, compiled once (outside the per-target guard).
#ifndef TESSEL_RUNTIME_KERNELS_BF16ACT_INL_H_RECORDS
#define TESSEL_RUNTIME_KERNELS_BF16ACT_INL_H_RECORDS

#include <cstdint>

namespace tessel::kernels {

/// The panel of the bf16-input GEMM: kRows weight rows, per pair of values
/// one 64-byte vector of [row r][values 2p, 2p + 1 as bf16].
struct Bf16Panel {
  static constexpr int64_t kRows = 16;
  static constexpr int64_t kPairBytes = 64;
  /// Bytes of one input row rounded to bf16: k values, padded to whole pairs.
  static int64_t rowBytes(int64_t k) { return (k + 1) / 2 * 4; }
};

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_BF16ACT_INL_H_RECORDS

#if defined(TESSEL_RUNTIME_KERNELS_BF16ACT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_BF16ACT_INL_H_
#undef TESSEL_RUNTIME_KERNELS_BF16ACT_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_BF16ACT_INL_H_
#endif

#include <algorithm>
#include <cstring>

#include "hwy/highway.h"
#include "runtime/kernels/Internal.h"
#include "runtime/kernels/q8act-inl.h" // Transpose16x4

// `vdpbf16ps` needs `avx512bf16`, which no target of Highway 1.0.3 names:
// added to AVX3_DL's code for these kernels, which run only where the CPU
// reports it (PanelAvailable).
#if HWY_TARGET == HWY_AVX3_DL && (defined(__clang__) || defined(__GNUC__))
#define TESSEL_BF16_DOT 1
#if defined(__clang__)
#define TESSEL_BF16_BEGIN                                                                          \
  _Pragma("clang attribute push(__attribute__((target(\"avx512bf16\"))), apply_to = function)")
#define TESSEL_BF16_END _Pragma("clang attribute pop")
#else
#define TESSEL_BF16_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512bf16\")")
#define TESSEL_BF16_END _Pragma("GCC pop_options")
#endif
#else
#define TESSEL_BF16_DOT 0
#endif

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace bf16act {
namespace hn = hwy::HWY_NAMESPACE;

// Rounds x[0..k) to bf16, nearest with ties to even (NaN stays NaN), as
// frontends::floatToBf16 and the reference do: the bf16 bits into `bits`
// (k values then a zero up to a whole pair; nullable) and their f32 values
// into `values` (nullable).
HWY_INLINE void RoundRow(const float *HWY_RESTRICT x, int64_t k, uint16_t *HWY_RESTRICT bits,
                         float *HWY_RESTRICT values) {
  const hn::CappedTag<uint32_t, 16> du;
  const hn::RebindToSigned<decltype(du)> di;
  const hn::RebindToFloat<decltype(du)> df;
  const hn::Rebind<uint16_t, decltype(du)> d16;
  const int64_t L = static_cast<int64_t>(hn::Lanes(du));
  auto round = [&](auto v) {
    const auto u = hn::BitCast(du, v);
    const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
    const auto nearest = hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), lsb)));
    const auto nan = hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x40u));
    return hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), nan, nearest);
  };
  auto store = [&](auto r, uint16_t *b, float *f) {
    if (b) // every lane <= 0xffff: the signed demotion does not saturate
      hn::StoreU(hn::DemoteTo(d16, hn::BitCast(di, r)), d16, b);
    if (f)
      hn::StoreU(hn::BitCast(df, hn::ShiftLeft<16>(r)), df, f);
  };
  int64_t j = 0;
  for (; j + L <= k; j += L)
    store(round(hn::LoadU(df, x + j)), bits ? bits + j : nullptr, values ? values + j : nullptr);
  if (j < k) { // the tail through a padded copy
    const size_t n = static_cast<size_t>(k - j);
    alignas(64) float in[16] = {};
    alignas(64) uint16_t b16[16];
    alignas(64) float f32[16];
    std::memcpy(in, x + j, n * sizeof(float));
    store(round(hn::Load(df, in)), b16, f32);
    if (bits)
      std::memcpy(bits + j, b16, n * sizeof(uint16_t));
    if (values)
      std::memcpy(values + j, f32, n * sizeof(float));
  }
  if (bits && k % 2)
    bits[k] = 0;
}

#if TESSEL_BF16_DOT
TESSEL_BF16_BEGIN

// Weight rows [0, live) of a panel (row r at w + r * ldw bytes, k bf16
// values) re-laid as Bf16Panel describes, four pairs at a time by
// Transpose16x4; the last chunk reads only the row's bytes (an odd k's
// last pair gets a zero second value) and fills the panel up to a whole
// four pairs with zeros. The same bytes of the next panel's `nextLive` rows
// are prefetched as it goes (q8act::PrefetchRowBytes).
HWY_INLINE void RepackPanel(const uint8_t *w, int64_t ldw, int64_t live, int64_t k, uint8_t *panel,
                            int64_t nextLive) {
  const int64_t rowBytes = 2 * k;
  auto *out = reinterpret_cast<__m512i *>(panel);
  __m512i v[4];
  const uint8_t *next = w + Bf16Panel::kRows * ldw;
  for (int64_t at = 0; at < rowBytes; at += 16, out += 4) {
    q8act::PrefetchRowBytes(next, ldw, nextLive, at, at + 16);
    q8act::Transpose16x4(w, ldw, live, at, std::min<int64_t>(16, rowBytes - at), v);
    for (int d = 0; d < 4; ++d)
      _mm512_store_si512(out + d, v[d]);
  }
}

// acc[i] lane r = weight row r of the panel . input row i (of R, bf16 bits
// at act[i]) over `pairs` pairs: one `vdpbf16ps` per pair with the input's
// pair broadcast. The same instructions for every R.
template <int R>
HWY_NOINLINE void PanelTile(const uint8_t *panel, int64_t pairs, const uint8_t *const act[R],
                            __m512 acc[R]) {
  // Locals, so that the compiler keeps them in registers: stores to acc
  // could alias the input rows' bytes.
  const uint8_t *rows[R];
  __m512 sums[R];
  for (int i = 0; i < R; ++i)
    rows[i] = act[i], sums[i] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pairs; ++p) {
    const __m512bh weights = (__m512bh)_mm512_load_si512(panel + p * Bf16Panel::kPairBytes);
    for (int i = 0; i < R; ++i)
      sums[i] = _mm512_dpbf16_ps(
          sums[i], (__m512bh)_mm512_set1_epi32(q8act::LoadI32(rows[i] + 4 * p)), weights);
  }
  for (int i = 0; i < R; ++i)
    acc[i] = sums[i];
}

// c[i, r] = W[r, :] . bf16(a_i) + bias[r] for input rows i < m (bf16 bits
// at acts + i * actStride) and weight rows [row0, row1): PanelGemm with the
// bf16 panels.
HWY_NOINLINE void PanelGemmRows(int64_t k, const uint8_t *acts, int64_t actStride, int64_t m,
                                const uint8_t *w, int64_t ldw, const float *bias, float *c,
                                int64_t ldc, int64_t row0, int64_t row1) {
  const int64_t pairs = (k + 1) / 2;
  // Whole chunks of four pairs (RepackPanel).
  auto *panel = scratchOf<uint8_t>(Scratch::kQ8Panel, (pairs + 3) / 4 * 4 * Bf16Panel::kPairBytes);
  q8act::PanelGemm(
      m, acts, actStride, bias, c, ldc, row0, row1, panel,
      [&](int64_t r, int64_t live, int64_t nextLive, uint8_t *p) {
        RepackPanel(w + r * ldw, ldw, live, k, p, nextLive);
      },
      [&](const uint8_t *const *act, int64_t rows, __m512 *acc) {
        q8act::WithTileRows(rows, [&](auto R) { PanelTile<R()>(panel, pairs, act, acc); });
      });
}

TESSEL_BF16_END
#endif // TESSEL_BF16_DOT

// Whether GemmRows runs here: this target has the kernel and the CPU
// AVX512_BF16.
HWY_INLINE bool PanelAvailable() {
#if TESSEL_BF16_DOT
  static const bool cpu = __builtin_cpu_supports("avx512bf16");
  return cpu;
#else
  return false;
#endif
}

HWY_INLINE void GemmRows(int64_t k, const uint8_t *acts, int64_t actStride, int64_t m,
                         const uint8_t *w, int64_t ldw, const float *bias, float *c, int64_t ldc,
                         int64_t row0, int64_t row1) {
#if TESSEL_BF16_DOT
  PanelGemmRows(k, acts, actStride, m, w, ldw, bias, c, ldc, row0, row1);
#else
  (void)k, (void)acts, (void)actStride, (void)m, (void)w, (void)ldw, (void)bias, (void)c;
  (void)ldc, (void)row0, (void)row1;
#endif
}

} // namespace bf16act
} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#undef TESSEL_BF16_DOT
#undef TESSEL_BF16_BEGIN
#undef TESSEL_BF16_END

#endif // TESSEL_RUNTIME_KERNELS_BF16ACT_INL_H_
