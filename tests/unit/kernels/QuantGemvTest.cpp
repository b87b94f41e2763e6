//===- QuantGemvTest.cpp - GEMV / GEMM on bf16, q8_0, q4_0 weights --------===//
//
// Every test runs once per compiled Highway target (hwy::TestWithParamTarget
// restricts dispatch to that target). Weights are random f32 quantized with
// frontends' quantizeRow; the oracle is frontends' dequantizeRow (the ground
// truth of the formats) followed by an f64 dot product.
//
// Tolerance: |got - want| <= 1e-5 * (|bias| + sum_p |w_p x_p|), with w the
// dequantized weights: what f32 accumulation can promise independently of
// cancellation (as KernelsTest's GEMM bound). The dequantized values
// themselves are exact in the kernels (d * q fits in f32), so the bound is
// the same for every format.
//
// Bit-for-bit checks: the same result for 1, 2 and 3 threads; a row's
// result does not depend on the rows around it; the GEMM with m > 4 equals
// tessel_gemm_f32 on the dequantized weights (as Kernels.h promises).
//
// DISABLED_StreamingBandwidth prints GB/s; it is run by hand, never timed
// against a threshold:
//   ./build/bin/quant_gemv_test --gtest_also_run_disabled_tests
//       --gtest_filter='*StreamingBandwidth*'
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

// The integer kernels of AVX3_DL (VNNI) are tested as their own target.
#define HWY_WANT_AVX3_DL 1
#include "frontends/WeightTypes.h"
#include "hwy/tests/hwy_gtest.h"
#include "runtime/kernels/Internal.h"
#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/ThreadPool.h"

namespace tessel::kernels {
namespace {

using frontends::WeightType;

class QuantGemvTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(QuantGemvTest);

const WeightType kTypes[] = {WeightType::Q8_0, WeightType::Q4_0, WeightType::BF16};

int kernelType(WeightType t) { return static_cast<int>(t); } // TESSEL_WEIGHT_* are GGML's ids

static_assert(TESSEL_WEIGHT_Q8_0 == static_cast<int>(WeightType::Q8_0));
static_assert(TESSEL_WEIGHT_Q4_0 == static_cast<int>(WeightType::Q4_0));
static_assert(TESSEL_WEIGHT_BF16 == static_cast<int>(WeightType::BF16));

struct Rng {
  std::mt19937 gen;
  explicit Rng(uint32_t seed) : gen(seed) {}
  void fill(std::vector<float> &v, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    for (float &x : v)
      x = dist(gen);
  }
};

int64_t rowBytes(WeightType t, int64_t k) {
  const auto &info = frontends::weightTypeInfo(t);
  return k / info.blockElems * info.blockBytes;
}

// W[n, k] quantized row by row at a stride of rowBytes + pad bytes (the
// padding holds 0xcd, which a kernel must not read into the result), and
// its dequantized values, the oracle's weights.
struct QuantMatrix {
  int64_t n = 0, k = 0, ldw = 0;
  std::vector<uint8_t> bytes;
  std::vector<float> dequant; // [n, k]
};

QuantMatrix quantize(WeightType t, const std::vector<float> &w, int64_t n, int64_t k, int64_t pad) {
  QuantMatrix q;
  q.n = n, q.k = k, q.ldw = rowBytes(t, k) + pad;
  q.bytes.assign(std::max<int64_t>(n * q.ldw, 1), 0xcd);
  q.dequant.resize(n * k);
  for (int64_t j = 0; j < n; ++j) {
    frontends::quantizeRow(t, w.data() + j * k, q.bytes.data() + j * q.ldw, k);
    frontends::dequantizeRow(t, q.bytes.data() + j * q.ldw, q.dequant.data() + j * k, k);
  }
  return q;
}

// c[i, j] for a[m, k] (stride lda) against the dequantized W, in f64, and
// the magnitude that bounds f32 rounding.
struct Oracle {
  std::vector<double> want, magnitude;
};

Oracle oracle(const QuantMatrix &q, int64_t m, const float *a, int64_t lda, const float *bias) {
  Oracle o;
  o.want.resize(m * q.n);
  o.magnitude.resize(m * q.n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < q.n; ++j) {
      double s = bias ? bias[j] : 0.0, mag = bias ? std::abs(bias[j]) : 0.0;
      for (int64_t p = 0; p < q.k; ++p) {
        const double t = static_cast<double>(a[i * lda + p]) * q.dequant[j * q.k + p];
        s += t;
        mag += std::abs(t);
      }
      o.want[i * q.n + j] = s;
      o.magnitude[i * q.n + j] = mag;
    }
  return o;
}

void expectClose(const Oracle &o, int64_t m, int64_t n, const float *c, int64_t ldc,
                 const std::string &what) {
  int failures = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n && failures < 5; ++j) {
      const double want = o.want[i * n + j], got = c[i * ldc + j];
      const double tol = 1e-5 * o.magnitude[i * n + j] + 1e-30;
      if (!(std::abs(got - want) <= tol)) {
        ADD_FAILURE() << what << ": c[" << i << "," << j << "] got " << got << " want " << want
                      << " (tolerance " << tol << ")";
        ++failures;
      }
    }
}

std::string describe(WeightType t, int64_t m, int64_t n, int64_t k) {
  return std::string(frontends::weightTypeInfo(t).name) + " " + std::to_string(m) + "x" +
         std::to_string(n) + "x" + std::to_string(k);
}

void cAbiGemv(WeightType t, int64_t n, int64_t k, const float *x, const void *w, int64_t ldw,
              const float *bias, float *y) {
  switch (t) {
  case WeightType::Q8_0:
    return tessel_gemv_q8_0_f32(n, k, x, w, ldw, bias, y);
  case WeightType::Q4_0:
    return tessel_gemv_q4_0_f32(n, k, x, w, ldw, bias, y);
  default:
    return tessel_gemv_bf16_f32(n, k, x, w, ldw, bias, y);
  }
}

void cAbiGemm(WeightType t, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
              const void *w, int64_t ldw, const float *bias, float *c, int64_t ldc) {
  switch (t) {
  case WeightType::Q8_0:
    return tessel_gemm_q8_0_f32(m, n, k, a, lda, w, ldw, bias, c, ldc);
  case WeightType::Q4_0:
    return tessel_gemm_q4_0_f32(m, n, k, a, lda, w, ldw, bias, c, ldc);
  default:
    return tessel_gemm_bf16_f32(m, n, k, a, lda, w, ldw, bias, c, ldc);
  }
}

//===----------------------------------------------------------------------===//
// GEMV
//===----------------------------------------------------------------------===//

// n: below, at and past a group of four rows, not a multiple of the vector
// width nor of the thread count; k: one block to 4096 (bf16 also k that is
// not a multiple of 32, nor of the vector width); bias or none; rows padded
// or not (q8_0 and q4_0 rows are never 4-byte aligned anyway: 34 and 18
// bytes per block).
TEST_P(QuantGemvTest, GemvMatchesDequantizedReference) {
  Rng rng(1);
  ThreadPool pool1(1), pool2(2), pool3(3);
  for (WeightType t : kTypes) {
    std::vector<int64_t> ks = {32, 64, 96, 288, 4096};
    if (t == WeightType::BF16)
      ks.insert(ks.end(), {1, 17, 33, 100});
    for (int64_t n : {1, 3, 4, 5, 17, 33, 100})
      for (int64_t k : ks) {
        std::vector<float> x(k), w(n * k), bias(n);
        rng.fill(x);
        rng.fill(w);
        rng.fill(bias);
        for (int64_t pad : {0, 6}) {
          const QuantMatrix q = quantize(t, w, n, k, pad);
          for (bool withBias : {false, true}) {
            const float *b = withBias ? bias.data() : nullptr;
            const Oracle o = oracle(q, 1, x.data(), k, b);
            const std::string what =
                describe(t, 1, n, k) + (withBias ? " bias" : "") + (pad ? " padded" : "");
            std::vector<float> y(n, -7.0f);
            cAbiGemv(t, n, k, x.data(), q.bytes.data(), q.ldw, b, y.data());
            expectClose(o, 1, n, y.data(), n, what);
            // Threads split rows, never k: the same bits for any count.
            for (ThreadPool *pool : {static_cast<ThreadPool *>(nullptr), &pool1, &pool2, &pool3}) {
              std::vector<float> yt(n, -3.0f);
              gemvQuant(kernelType(t), n, k, x.data(), q.bytes.data(), q.ldw, b, yt.data(), pool);
              ASSERT_EQ(y, yt) << what << " with " << (pool ? pool->numThreads() : 0) << " threads";
            }
          }
        }
      }
  }
}

// Large enough to be split across threads (n * k >= 2^14), with each
// thread's share not a multiple of 4 rows for some counts.
TEST_P(QuantGemvTest, GemvLargeEnoughToThreadMatchesSingleThread) {
  Rng rng(2);
  ThreadPool pool2(2), pool3(3);
  for (WeightType t : kTypes)
    for (int64_t n : {8, 9, 131, 1001}) {
      const int64_t k = 1024;
      std::vector<float> x(k), w(n * k), bias(n);
      rng.fill(x);
      rng.fill(w);
      rng.fill(bias);
      const QuantMatrix q = quantize(t, w, n, k, 0);
      const Oracle o = oracle(q, 1, x.data(), k, bias.data());
      std::vector<float> y1(n), y2(n), y3(n);
      gemvQuant(kernelType(t), n, k, x.data(), q.bytes.data(), q.ldw, bias.data(), y1.data(),
                nullptr);
      gemvQuant(kernelType(t), n, k, x.data(), q.bytes.data(), q.ldw, bias.data(), y2.data(),
                &pool2);
      gemvQuant(kernelType(t), n, k, x.data(), q.bytes.data(), q.ldw, bias.data(), y3.data(),
                &pool3);
      expectClose(o, 1, n, y1.data(), n, describe(t, 1, n, k));
      EXPECT_EQ(y1, y2) << describe(t, 1, n, k);
      EXPECT_EQ(y1, y3) << describe(t, 1, n, k);
    }
}

// A row's result is the same bits whether it is computed alone, in a group
// of four, or in the short last group: what makes the thread split exact.
TEST_P(QuantGemvTest, GemvRowDoesNotDependOnItsNeighbours) {
  Rng rng(3);
  for (WeightType t : kTypes) {
    const int64_t n = 11, k = 160;
    std::vector<float> x(k), w(n * k);
    rng.fill(x);
    rng.fill(w);
    const QuantMatrix q = quantize(t, w, n, k, 2);
    std::vector<float> y(n);
    gemvQuant(kernelType(t), n, k, x.data(), q.bytes.data(), q.ldw, nullptr, y.data(), nullptr);
    for (int64_t r0 = 0; r0 < n; ++r0)
      for (int64_t rows : {1, 2, 3, 5}) {
        if (r0 + rows > n)
          continue;
        std::vector<float> part(rows);
        gemvQuant(kernelType(t), rows, k, x.data(), q.bytes.data() + r0 * q.ldw, q.ldw, nullptr,
                  part.data(), nullptr);
        for (int64_t i = 0; i < rows; ++i)
          ASSERT_EQ(part[i], y[r0 + i])
              << describe(t, 1, n, k) << " rows " << r0 << ".." << r0 + rows - 1;
      }
  }
}

// Block scales that are f16 subnormals (tiny weights), zero (all-zero
// blocks), and large; weights spanning several orders of magnitude.
TEST_P(QuantGemvTest, GemvBlockScalesOfEveryKind) {
  Rng rng(4);
  const int64_t n = 9, k = 256;
  std::vector<float> x(k), w(n * k);
  rng.fill(x);
  rng.fill(w);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t p = 0; p < k; ++p) {
      const int64_t block = p / 32;
      float &v = w[j * k + p];
      if (block == 0)
        v *= 1e-6f; // d ~ 8e-9 (q8_0), 1e-7 (q4_0): f16 subnormals
      else if (block == 1)
        v = 0.0f; // d = 0
      else if (block == 2)
        v *= 3e4f; // d ~ 240 (q8_0), 4e3 (q4_0)
      else if (block == 3)
        v *= std::pow(10.0f, static_cast<float>(j % 5) - 2.0f);
    }
  for (WeightType t : kTypes) {
    const QuantMatrix q = quantize(t, w, n, k, 0);
    const Oracle o = oracle(q, 1, x.data(), k, nullptr);
    std::vector<float> y(n);
    cAbiGemv(t, n, k, x.data(), q.bytes.data(), q.ldw, nullptr, y.data());
    expectClose(o, 1, n, y.data(), n, describe(t, 1, n, k) + " scales");
    // The subnormal block alone (x zero elsewhere) must still be exact to
    // f32 rounding, i.e. its scale converted exactly.
    std::vector<float> x0(k, 0.0f);
    std::copy_n(x.begin(), 32, x0.begin());
    const Oracle o0 = oracle(q, 1, x0.data(), k, nullptr);
    cAbiGemv(t, n, k, x0.data(), q.bytes.data(), q.ldw, nullptr, y.data());
    expectClose(o0, 1, n, y.data(), n, describe(t, 1, n, k) + " subnormal scales");
  }
}

TEST_P(QuantGemvTest, GemvEmpty) {
  const std::vector<float> bias = {1.5f, -2.0f, 3.0f};
  for (WeightType t : kTypes) {
    std::vector<float> y(3, -7.0f);
    cAbiGemv(t, 3, 0, nullptr, nullptr, 0, bias.data(), y.data()); // k = 0: y = bias
    EXPECT_EQ(y, bias);
    cAbiGemv(t, 3, 0, nullptr, nullptr, 0, nullptr, y.data());
    EXPECT_EQ(y, std::vector<float>(3, 0.0f));
    cAbiGemv(t, 0, 64, nullptr, nullptr, 0, nullptr, nullptr); // n = 0: nothing
  }
}

//===----------------------------------------------------------------------===//
// GEMM (prefill)
//===----------------------------------------------------------------------===//

struct Shape {
  int64_t m, n, k;
};

// m <= 4 (the GEMV per row) and the packed path (m > 4); n past one
// dequantized block (256 rows), with a panel remainder; k past one K block
// (256); sizes that thread by columns (17 x 300, 40 x 520), by rows
// (300 x 20: one panel) or not at all; k = 0.
const Shape kGemmShapes[] = {
    {1, 33, 288},  {2, 33, 64},   {3, 600, 288}, {4, 7, 544},    {5, 33, 288}, {17, 300, 544},
    {100, 33, 32}, {300, 20, 64}, {40, 520, 96}, {6, 300, 1056}, {5, 7, 0},    {2, 9, 0},
};

// c (the GEMM's result, rows of ldc with -3 past n) left its padding alone,
// and gemmQuant gives the same bits without a pool and on 2 and 3 threads.
void expectUntouchedPaddingAndSameForAnyPool(WeightType t, const Shape &s,
                                             const std::vector<float> &a, int64_t lda,
                                             const QuantMatrix &q, const float *bias,
                                             const std::vector<float> &c, int64_t ldc,
                                             const std::string &what, bool q8Input) {
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = s.n; j < ldc; ++j)
      ASSERT_EQ(c[i * ldc + j], -3.0f) << what << ": padding of c written";
  static ThreadPool pool2(2), pool3(3); // kept across calls: their threads start once
  for (ThreadPool *pool : {static_cast<ThreadPool *>(nullptr), &pool2, &pool3}) {
    std::vector<float> ct(s.m * ldc, -3.0f);
    gemmQuant(kernelType(t), s.m, s.n, s.k, a.data(), lda, q.bytes.data(), q.ldw, bias, ct.data(),
              ldc, pool, q8Input);
    ASSERT_EQ(c, ct) << what << " with " << (pool ? pool->numThreads() : 0) << " threads";
  }
}

TEST_P(QuantGemvTest, GemmMatchesDequantizedReference) {
  Rng rng(5);
  for (WeightType t : kTypes)
    for (const Shape &s : kGemmShapes) {
      const int64_t lda = s.k + 3, ldc = s.n + 5;
      std::vector<float> a(s.m * lda), w(s.n * s.k), bias(s.n);
      rng.fill(a);
      rng.fill(w);
      rng.fill(bias);
      const QuantMatrix q = quantize(t, w, s.n, s.k, 4);
      for (bool withBias : {false, true}) {
        const float *b = withBias ? bias.data() : nullptr;
        const std::string what = describe(t, s.m, s.n, s.k) + (withBias ? " bias" : "");
        const Oracle o = oracle(q, s.m, a.data(), lda, b);
        std::vector<float> c(s.m * ldc, -3.0f);
        cAbiGemm(t, s.m, s.n, s.k, a.data(), lda, q.bytes.data(), q.ldw, b, c.data(), ldc);
        expectClose(o, s.m, s.n, c.data(), ldc, what);
        expectUntouchedPaddingAndSameForAnyPool(t, s, a, lda, q, b, c, ldc, what, false);
        // The promise: tessel_gemm_f32 on the dequantized weights, bit for
        // bit. Gemm.cc has no AVX3_DL build (only QuantGemv.cc adds it), so
        // with dispatch restricted to AVX3_DL its GEMM runs another target.
        if (s.m > 4 && GetParam() != HWY_AVX3_DL) {
          std::vector<float> cf(s.m * ldc, -3.0f);
          gemm(s.m, s.n, s.k, a.data(), lda, q.dequant.data(), s.k, b, cf.data(), ldc, nullptr);
          ASSERT_EQ(c, cf) << what << " vs tessel_gemm_f32";
        }
        if (s.m <= 4) { // the GEMV per row
          for (int64_t i = 0; i < s.m; ++i) {
            std::vector<float> y(s.n);
            gemvQuant(kernelType(t), s.n, s.k, a.data() + i * lda, q.bytes.data(), q.ldw, b,
                      y.data(), nullptr);
            ASSERT_EQ(0, std::memcmp(y.data(), c.data() + i * ldc, s.n * sizeof(float)))
                << what << " row " << i;
          }
        }
      }
    }
}

//===----------------------------------------------------------------------===//
// q8_0-rounded input (tessel_gemm_q8in_f32)
//===----------------------------------------------------------------------===//

// The rounding Kernels.h specifies, written out here on its own: per 32
// values d = max |x| / 127, q = x * (1/d) to nearest (ties to even), and the
// row becomes d * q.
std::vector<float> roundRowsToQ8_0(const std::vector<float> &a, int64_t m, int64_t k, int64_t lda) {
  std::vector<float> out(a);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t b = 0; b < k / 32; ++b) {
      float *x = out.data() + i * lda + 32 * b;
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j)
        amax = std::max(amax, std::abs(x[j]));
      const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      for (int j = 0; j < 32; ++j)
        x[j] = d * static_cast<float>(std::nearbyint(x[j] * id));
    }
  return out;
}

// The rounded-input GEMM's rows (c, from a call of s.m rows of a) against
// smaller calls, bit for bit: when s.m <= gemvUpTo each row is the GEMV of
// that row alone; when s.m >= window (the panel kernel's threshold) each row
// is the same in a call of just `window` rows around it.
void expectRowsAsInSmallerCalls(WeightType t, const Shape &s, const std::vector<float> &a,
                                int64_t lda, const QuantMatrix &q, const float *bias,
                                const std::vector<float> &c, int64_t ldc, const std::string &what,
                                int64_t gemvUpTo, int64_t window) {
  static ThreadPool pool2(2);
  std::vector<float> y(s.n * window);
  for (int64_t i = 0; i < s.m; ++i) {
    if (s.m <= gemvUpTo) {
      gemvQuant(kernelType(t), s.n, s.k, a.data() + i * lda, q.bytes.data(), q.ldw, bias, y.data(),
                &pool2, /*roundInput=*/true);
      ASSERT_EQ(0, std::memcmp(y.data(), c.data() + i * ldc, s.n * sizeof(float)))
          << what << " row " << i << " vs the GEMV";
    } else if (s.m >= window) {
      const int64_t first = std::min(i, s.m - window);
      gemmQuant(kernelType(t), window, s.n, s.k, a.data() + first * lda, lda, q.bytes.data(), q.ldw,
                bias, y.data(), s.n, &pool2, /*roundInput=*/true);
      ASSERT_EQ(0,
                std::memcmp(y.data() + (i - first) * s.n, c.data() + i * ldc, s.n * sizeof(float)))
          << what << " row " << i << " vs rows " << first << ".." << first + window - 1;
    }
  }
}

// Against the f64 product of the rounded rows and the dequantized weights
// (tolerance as above: the block products are exact integers, only their
// f32 sum rounds), for every shape of the GEMM test (tails of 1-3 blocks
// past the kernels' groups of four included); the same bits for any thread
// count. Below kQ8InputPanelMinRows rows each row is the GEMV of that row
// alone, bit for bit; from there on (the panel kernel) each row is the same
// bits in a call of just kQ8InputPanelMinRows rows around it.
TEST_P(QuantGemvTest, Q8InputGemmMatchesRoundedReference) {
  Rng rng(8);
  for (WeightType t : {WeightType::Q8_0, WeightType::Q4_0})
    for (const Shape &s : kGemmShapes) {
      const int64_t lda = s.k + 3, ldc = s.n + 5;
      std::vector<float> a(s.m * lda), w(s.n * s.k), bias(s.n);
      rng.fill(a, -2.0f, 2.0f);
      rng.fill(w);
      rng.fill(bias);
      a[0] = 0.0f; // ties and zeros: an all-zero block among them
      if (s.k >= 64)
        std::fill(a.begin() + 32, a.begin() + 64, 0.0f);
      if (s.k >= 96) { // a block of exact ties (d = 1): 0.5 -> 0, 1.5 -> 2, -2.5 -> -2
        a[64] = 127.0f;
        for (int j = 1; j < 32; ++j)
          a[64 + j] = (j % 2 ? 1.0f : -1.0f) * (static_cast<float>(j / 2) + 0.5f);
      }
      const QuantMatrix q = quantize(t, w, s.n, s.k, 4);
      const std::vector<float> rounded = roundRowsToQ8_0(a, s.m, s.k, lda);
      for (bool withBias : {false, true}) {
        const float *b = withBias ? bias.data() : nullptr;
        const std::string what = "q8in " + describe(t, s.m, s.n, s.k) + (withBias ? " bias" : "");
        const Oracle o = oracle(q, s.m, rounded.data(), lda, b);
        std::vector<float> c(s.m * ldc, -3.0f);
        tessel_gemm_q8in_f32(kernelType(t), s.m, s.n, s.k, a.data(), lda, q.bytes.data(), q.ldw, b,
                             c.data(), ldc);
        expectClose(o, s.m, s.n, c.data(), ldc, what);
        expectUntouchedPaddingAndSameForAnyPool(t, s, a, lda, q, b, c, ldc, what, true);
        expectRowsAsInSmallerCalls(t, s, a, lda, q, b, c, ldc, what,
                                   /*gemvUpTo=*/kQ8InputPanelMinRows - 1, kQ8InputPanelMinRows);
      }
    }
}

//===----------------------------------------------------------------------===//
// bf16-rounded input (gemmQuant of bf16 weights with roundInput)
//===----------------------------------------------------------------------===//

// Against the f64 product of the rows rounded to bf16 (frontends'
// floatToBf16: nearest, ties to even) and the bf16 weights: every product
// is exact, only the f32 sums round (tolerance as above). The GEMM shapes,
// plus odd k (the panel's last pair half empty), k = 1 and rows
// around the panel threshold. The same bits for any thread count; up to
// four rows each row is its GEMV, from kBf16InputPanelMinRows on each row
// is the same bits in a call of just that many rows around it. (Without
// the bf16 panel kernel the rounded rows take the f32 GEMM, whose paths
// change at kDotRows: past it the window is kDotRows + 1 rows.)
TEST_P(QuantGemvTest, Bf16InputGemmMatchesRoundedReference) {
  Rng rng(13);
  const WeightType t = WeightType::BF16;
  std::vector<Shape> shapes(std::begin(kGemmShapes), std::end(kGemmShapes));
  shapes.insert(shapes.end(), {{9, 40, 33}, {16, 17, 7}, {12, 17, 1}, {7, 33, 95}, {8, 33, 95}});
  for (const Shape &s : shapes) {
    const int64_t lda = s.k + 3, ldc = s.n + 5;
    std::vector<float> a(s.m * lda), w(s.n * s.k), bias(s.n);
    rng.fill(a, -2.0f, 2.0f);
    rng.fill(w);
    rng.fill(bias);
    if (!a.empty()) // a value halfway between two bf16 values: ties to even
      a[0] = frontends::bf16ToFloat(0x3f81) * (1.0f + 1.0f / 256.0f);
    const QuantMatrix q = quantize(t, w, s.n, s.k, 6);
    std::vector<float> rounded(a);
    for (float &x : rounded)
      x = frontends::bf16ToFloat(frontends::floatToBf16(x));
    for (bool withBias : {false, true}) {
      const float *b = withBias ? bias.data() : nullptr;
      const std::string what = "bf16in " + describe(t, s.m, s.n, s.k) + (withBias ? " bias" : "");
      const Oracle o = oracle(q, s.m, rounded.data(), lda, b);
      std::vector<float> c(s.m * ldc, -3.0f);
      gemmQuant(kernelType(t), s.m, s.n, s.k, a.data(), lda, q.bytes.data(), q.ldw, b, c.data(),
                ldc, nullptr, /*roundInput=*/true);
      expectClose(o, s.m, s.n, c.data(), ldc, what);
      expectUntouchedPaddingAndSameForAnyPool(t, s, a, lda, q, b, c, ldc, what, true);
      expectRowsAsInSmallerCalls(t, s, a, lda, q, b, c, ldc, what, /*gemvUpTo=*/4,
                                 s.m > kDotRows ? kDotRows + 1 : kBf16InputPanelMinRows);
    }
  }
}

// gemmQuantPair (a gated FFN's up and gate, sharing the rounding of the
// input rows and one hand-off to the pool) gives both products exactly as
// two gemmQuant calls do: the GEMV (m = 1), a few rows and many, on one and
// two threads, with and without q8_0 inputs, for every stored format.
TEST_P(QuantGemvTest, PairMatchesTwoCallsBitForBit) {
  Rng rng(12);
  ThreadPool pool2(2);
  const int64_t n = 200, k = 288, ldc = n + 3;
  for (WeightType t : kTypes)
    for (int64_t m : {1, 5, 64})
      for (bool q8 : {false, true})
        for (ThreadPool *pool : {static_cast<ThreadPool *>(nullptr), &pool2}) {
          const std::string what =
              describe(t, m, n, k) + (q8 ? " q8 inputs" : "") + (pool ? " 2 threads" : " 1 thread");
          std::vector<float> a(m * k), w0(n * k), w1(n * k);
          rng.fill(a, -2.0f, 2.0f);
          rng.fill(w0);
          rng.fill(w1);
          const QuantMatrix q0 = quantize(t, w0, n, k, 0), q1 = quantize(t, w1, n, k, 0);
          std::vector<float> want0(m * ldc, -3.0f), want1(m * ldc, -3.0f), got0(want0), got1(want1);
          gemmQuant(kernelType(t), m, n, k, a.data(), k, q0.bytes.data(), q0.ldw, nullptr,
                    want0.data(), ldc, pool, q8);
          gemmQuant(kernelType(t), m, n, k, a.data(), k, q1.bytes.data(), q1.ldw, nullptr,
                    want1.data(), ldc, pool, q8);
          gemmQuantPair(kernelType(t), m, n, k, a.data(), k, q0.bytes.data(), q1.bytes.data(),
                        q0.ldw, got0.data(), ldc, got1.data(), ldc, pool, q8);
          ASSERT_EQ(got0, want0) << what << ", first product";
          ASSERT_EQ(got1, want1) << what << ", second product";
        }
}

//===----------------------------------------------------------------------===//
// Bandwidth (by hand only; see the header)
//===----------------------------------------------------------------------===//

// GB/s of weights streamed by one GEMV with n = k = 4096, on 1 and 2
// threads of an explicit pool, at the best target. Several copies of the
// weights (>= 256 MiB in all) are cycled through so that they come from
// DRAM, not the 32 MiB L3.
TEST(QuantGemvBench, DISABLED_StreamingBandwidth) {
  const int64_t n = 4096, k = 4096;
  Rng rng(6);
  std::vector<float> x(k), w(n * k), y(n);
  rng.fill(x);
  rng.fill(w);
  std::printf("target %s, n = k = %lld\n", tessel_kernels_target(), static_cast<long long>(n));
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (int f = 0; f < 6; ++f) {
      const bool isF32 = f == 3;
      const bool q8Input = f >= 4; // q8_0 / q4_0 with tessel_gemm_q8in_f32's rounded x
      const WeightType t = isF32 ? WeightType::F32 : q8Input ? kTypes[f - 4] : kTypes[f];
      const int64_t bytes = isF32 ? n * k * 4 : rowBytes(t, k) * n;
      const int64_t copies = std::max<int64_t>(2, (int64_t{256} << 20) / bytes);
      std::vector<std::vector<uint8_t>> mats(copies);
      for (auto &m : mats) {
        m.resize(bytes);
        if (isF32)
          std::memcpy(m.data(), w.data(), bytes);
        else
          for (int64_t j = 0; j < n; ++j)
            frontends::quantizeRow(t, w.data() + j * k, m.data() + j * rowBytes(t, k), k);
      }
      auto call = [&](const std::vector<uint8_t> &m) {
        if (isF32)
          gemv(n, k, x.data(), reinterpret_cast<const float *>(m.data()), k, nullptr, y.data(),
               &pool);
        else
          gemvQuant(kernelType(t), n, k, x.data(), m.data(), rowBytes(t, k), nullptr, y.data(),
                    &pool, q8Input);
      };
      for (const auto &m : mats) // warm up (page faults, pool)
        call(m);
      double best = 1e30;
      for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        for (const auto &m : mats)
          call(m);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
            static_cast<double>(copies);
        best = std::min(best, s);
      }
      std::printf("%-5s%s %d thread(s): %8.1f us/GEMV  %6.1f GB/s of weights (%.1f MB)\n",
                  frontends::weightTypeInfo(t).name, q8Input ? " q8in" : "", threads, best * 1e6,
                  bytes / best * 1e-9, bytes * 1e-6);
    }
  }
}

} // namespace
} // namespace tessel::kernels
