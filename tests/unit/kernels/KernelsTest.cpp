//===- KernelsTest.cpp - Highway kernels vs the reference evaluator -------===//
//
// Every test runs once per compiled Highway target (hwy::TestWithParamTarget
// restricts dispatch to that target), and compares the kernels, called
// through the C ABI or the explicit-pool C++ overloads, with the reference
// evaluator (reference/Ops.h, f64 accumulation) as the oracle.
//
// Tolerances (the kernels accumulate in f32):
//  - GEMM/GEMV: |got - want| <= 1e-5 * (|bias| + sum_p |a_p w_p|), i.e. 1e-5
//    relative to the magnitude of the terms, which is what f32 summation
//    can promise independently of cancellation; with an addend, |addend| is
//    one more term.
//  - Gated GEMM, c = act(g) * u: the sums' bounds above carried through to
//    first order, |act'| <= 1.2 for SiLU and both GELUs:
//    1e-5 * (1.2 * G * |u| + |act(g)| * U + |c|), with G and U the gate's and
//    the up's magnitudes; the last term covers the activation's own ~1e-6.
//  - Attention: |got - want| <= 1e-5 * max|v| (every output is a convex
//    combination of rows of v), up to contexts of 3000 keys.
//  - Elementwise ops, norms, RoPE, softmax: |got - want| <= 1e-5 * |want|
//    + a small absolute floor stated at each check.
//  - Fused GEMMs (norm prologue, RoPE epilogue) against the unfused kernels:
//    the GEMM bound above over the GEMM's actual input (the norm's output);
//    through a rotation, the sum of the bounds of the two mixed outputs.
//    Where Kernels.h promises the unfused result bit for bit, that is
//    checked too.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "frontends/WeightTypes.h"
#include "hwy/aligned_allocator.h"
#include "hwy/tests/hwy_gtest.h"
#include "reference/Ops.h"
#include "runtime/kernels/Internal.h"
#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/ThreadPool.h"

namespace tessel::kernels {
namespace {

using ref::Tensor;

class KernelTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(KernelTest);

struct Rng {
  std::mt19937 gen;
  explicit Rng(uint32_t seed) : gen(seed) {}
  float uniform(float lo = -1.0f, float hi = 1.0f) {
    return std::uniform_real_distribution<float>(lo, hi)(gen);
  }
  void fill(std::vector<float> &v, float lo = -1.0f, float hi = 1.0f) {
    for (float &x : v)
      x = uniform(lo, hi);
  }
  int64_t below(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(gen); }
};

Tensor tensorOf(std::vector<int64_t> shape, const std::vector<float> &data) {
  Tensor t = Tensor::zerosF32(std::move(shape));
  EXPECT_EQ(t.f.size(), data.size());
  t.f = data;
  return t;
}

Tensor unwrap(ref::Result r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : Tensor();
}

// |got - want| <= rel * |want| + abs, element by element.
void expectClose(const std::vector<float> &want, const float *got, double rel, double abs,
                 const std::string &what) {
  int failures = 0;
  for (size_t i = 0; i < want.size() && failures < 5; ++i) {
    const double tol = rel * std::abs(want[i]) + abs;
    if (std::isnan(want[i]) ? !std::isnan(got[i]) : !(std::abs(got[i] - want[i]) <= tol)) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i]
                    << " (tolerance " << tol << ")";
      ++failures;
    }
  }
}

TEST_P(KernelTest, DispatchesToTheTargetUnderTest) {
  EXPECT_STREQ(tessel_kernels_target(), hwy::TargetName(GetParam()));
}

//===----------------------------------------------------------------------===//
// GEMM / GEMV
//===----------------------------------------------------------------------===//

struct GemmShape {
  int64_t m, n, k;
};

// Shapes that cover: m = 1 and the skinny path (m <= 4), the dot-tile path
// (m <= kDotRows; tiles short of rows and of columns, several K blocks),
// micro-kernel row remainders, panel and slice remainders (n % 32, n % 16),
// several K blocks (k > kKC = 256), several M blocks (m > kMC = 96),
// several N blocks (n > kNC = 512), k = 0.
const GemmShape kGemmShapes[] = {
    {1, 1, 1},     {1, 3, 17},    {3, 17, 33}, {4, 33, 100},   {5, 7, 3},
    {17, 33, 1},   {33, 100, 17}, {8, 32, 64}, {100, 67, 300}, {130, 97, 520},
    {200, 40, 50}, {9, 1100, 40}, {6, 5, 0},   {2, 9, 0},      {47, 38, 530},
};

// The oracle plus the per-element magnitude that bounds f32 rounding.
struct GemmOracle {
  std::vector<float> want;
  std::vector<double> magnitude;
};

GemmOracle gemmOracle(const GemmShape &s, const std::vector<float> &a, const std::vector<float> &w,
                      const std::vector<float> *bias) {
  Tensor ta = tensorOf({s.m, s.k}, a), tw = tensorOf({s.n, s.k}, w);
  Tensor tb;
  if (bias)
    tb = tensorOf({s.n}, *bias);
  GemmOracle o;
  if (s.k == 0) { // ref::linear divides by the input width; c = bias (or 0) here
    o.want.assign(s.m * s.n, 0.0f);
    for (int64_t i = 0; i < s.m && bias; ++i)
      std::copy_n(bias->data(), s.n, &o.want[i * s.n]);
  } else {
    o.want = unwrap(ref::linear(ta, tw, bias ? &tb : nullptr)).f;
  }
  o.magnitude.resize(s.m * s.n);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      double mag = bias ? std::abs((*bias)[j]) : 0.0;
      for (int64_t p = 0; p < s.k; ++p)
        mag += std::abs(a[i * s.k + p] * w[j * s.k + p]);
      o.magnitude[i * s.n + j] = mag;
    }
  return o;
}

// c holds m rows of stride ldc.
void expectGemm(const GemmOracle &o, const GemmShape &s, const float *c, int64_t ldc,
                const std::string &what) {
  int failures = 0;
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n && failures < 5; ++j) {
      const double want = o.want[i * s.n + j], got = c[i * ldc + j];
      const double tol = 1e-5 * o.magnitude[i * s.n + j] + 1e-30;
      if (!(std::abs(got - want) <= tol)) {
        ADD_FAILURE() << what << " " << s.m << "x" << s.n << "x" << s.k << ": c[" << i << "," << j
                      << "] got " << got << " want " << want;
        ++failures;
      }
    }
}

TEST_P(KernelTest, GemmMatchesReferenceLinear) {
  Rng rng(1);
  ThreadPool pool2(2), pool3(3);
  for (const GemmShape &s : kGemmShapes) {
    std::vector<float> a(s.m * s.k), w(s.n * s.k), bias(s.n);
    rng.fill(a);
    rng.fill(w);
    rng.fill(bias);
    for (bool withBias : {false, true}) {
      const GemmOracle o = gemmOracle(s, a, w, withBias ? &bias : nullptr);
      const float *b = withBias ? bias.data() : nullptr;
      // Contiguous, through the C ABI (global pool).
      std::vector<float> c(s.m * s.n, -7.0f);
      tessel_gemm_f32(s.m, s.n, s.k, a.data(), s.k, w.data(), s.k, b, c.data(), s.n);
      expectGemm(o, s, c.data(), s.n, "gemm");

      // Padded strides: rows of a, w and c are longer than used; the padding
      // must be neither read into the result nor written.
      const int64_t lda = s.k + 3, ldw = s.k + 5, ldc = s.n + 7;
      std::vector<float> ap(s.m * lda, NAN), wp(s.n * ldw, NAN), cp(s.m * ldc, -3.0f);
      for (int64_t i = 0; i < s.m; ++i)
        std::copy_n(a.data() + i * s.k, s.k, ap.data() + i * lda);
      for (int64_t j = 0; j < s.n; ++j)
        std::copy_n(w.data() + j * s.k, s.k, wp.data() + j * ldw);
      gemm(s.m, s.n, s.k, ap.data(), lda, wp.data(), ldw, b, cp.data(), ldc, nullptr);
      expectGemm(o, s, cp.data(), ldc, "gemm strided");
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = s.n; j < ldc; ++j)
          ASSERT_EQ(cp[i * ldc + j], -3.0f);

      // Threads split N or M, never K: the result is bit for bit the same.
      for (ThreadPool *pool : {&pool2, &pool3}) {
        std::vector<float> ct(s.m * ldc, -3.0f);
        gemm(s.m, s.n, s.k, ap.data(), lda, wp.data(), ldw, b, ct.data(), ldc, pool);
        ASSERT_EQ(0, std::memcmp(ct.data(), cp.data(), ct.size() * sizeof(float)))
            << s.m << "x" << s.n << "x" << s.k << " with " << pool->numThreads() << " threads";
      }
    }
  }
}

TEST_P(KernelTest, GemmLargeEnoughToThreadMatchesSingleThread) {
  // 96 x 160 x 257: above the threading threshold, 5 panels split over 2-3
  // threads, two K blocks. 300 x 20 x 64: one panel, so the rows are split.
  // 28 x 32 x 300: split into rows 0-23 and 24-27; the last 4 rows must not
  // take the skinny (m <= 4) path, which sums in another order.
  Rng rng(2);
  ThreadPool pool2(2), pool3(3);
  for (GemmShape s : {GemmShape{96, 160, 257}, GemmShape{300, 20, 64}, GemmShape{28, 32, 300}}) {
    std::vector<float> a(s.m * s.k), w(s.n * s.k), bias(s.n);
    rng.fill(a);
    rng.fill(w);
    rng.fill(bias);
    const GemmOracle o = gemmOracle(s, a, w, &bias);
    std::vector<float> c1(s.m * s.n), c2(s.m * s.n), c3(s.m * s.n);
    gemm(s.m, s.n, s.k, a.data(), s.k, w.data(), s.k, bias.data(), c1.data(), s.n, nullptr);
    gemm(s.m, s.n, s.k, a.data(), s.k, w.data(), s.k, bias.data(), c2.data(), s.n, &pool2);
    gemm(s.m, s.n, s.k, a.data(), s.k, w.data(), s.k, bias.data(), c3.data(), s.n, &pool3);
    expectGemm(o, s, c1.data(), s.n, "gemm 1 thread");
    EXPECT_EQ(c1, c2);
    EXPECT_EQ(c1, c3);
  }
}

// From kSkinnyRows + 1 to kDotRows rows, a row of C is the same bits in any
// call on that path: the 4 x 4 tiles pad short tiles by repeating a row,
// and every slot of a tile sums in the same order. Rows of a 47-row call
// against calls of 5 and 9 rows around them, plain and gated, K past one
// block and n not a multiple of 4.
TEST_P(KernelTest, GemmDotRowsDoNotDependOnTheirTile) {
  static_assert(kDotRows >= 47, "the shape below is meant to take the dot-tile path");
  Rng rng(21);
  const int64_t m = 47, n = 38, k = 530;
  std::vector<float> a(m * k), w(n * k), up(n * k), bias(n);
  rng.fill(a);
  rng.fill(w);
  rng.fill(up);
  rng.fill(bias);
  std::vector<float> c(m * n), glu(m * n);
  gemm(m, n, k, a.data(), k, w.data(), k, bias.data(), c.data(), n, nullptr);
  gemmGlu(m, n, k, a.data(), k, w.data(), up.data(), k, TESSEL_GLU_SILU, false, glu.data(), n,
          nullptr);
  for (int64_t rows : {5, 9})
    for (int64_t first : {int64_t{0}, int64_t{3}, m - rows}) {
      std::vector<float> part(rows * n), partGlu(rows * n);
      gemm(rows, n, k, a.data() + first * k, k, w.data(), k, bias.data(), part.data(), n, nullptr);
      gemmGlu(rows, n, k, a.data() + first * k, k, w.data(), up.data(), k, TESSEL_GLU_SILU, false,
              partGlu.data(), n, nullptr);
      EXPECT_EQ(0, std::memcmp(part.data(), c.data() + first * n, part.size() * sizeof(float)))
          << "rows " << first << ".." << first + rows - 1;
      EXPECT_EQ(0, std::memcmp(partGlu.data(), glu.data() + first * n, part.size() * sizeof(float)))
          << "gated rows " << first << ".." << first + rows - 1;
    }
}

// tessel_batch_gemm_f32: each batch index's product against ref::linear
// (B in the [n, k] layout as given, or transposed into it from [k, n]), at
// the GEMM tolerance; operands with padded batch and row strides (the
// padding neither read nor written); threads 1, 2 and 3 and the C entry
// point bit-identical. Shapes: decode's per-head GEMVs (m = 1: whole
// products per thread), the skinny path (m = 3), the packed path (m = 40),
// one product large enough to be split itself, k = 0.
TEST_P(KernelTest, BatchGemmMatchesReferenceLinear) {
  struct Case {
    int64_t batch, m, n, k;
  };
  Rng rng(4);
  ThreadPool pool1(1), pool2(2), pool3(3);
  for (const Case &t : {Case{8, 1, 128, 64}, Case{8, 1, 64, 128}, Case{3, 3, 17, 33},
                        Case{2, 40, 67, 300}, Case{2, 96, 160, 257}, Case{5, 2, 9, 0}})
    for (bool kn : {true, false}) {
      const GemmShape s{t.m, t.n, t.k};
      const int64_t lda = t.k + 3, ldb = (kn ? t.n : t.k) + 5, ldc = t.n + 7;
      const int64_t aBatch = t.m * lda + 11, bBatch = (kn ? t.k : t.n) * ldb + 13,
                    cBatch = t.m * ldc + 2;
      std::vector<float> a(t.batch * aBatch, NAN), b(t.batch * bBatch, NAN);
      std::vector<GemmOracle> oracles;
      for (int64_t i = 0; i < t.batch; ++i) {
        std::vector<float> ai(t.m * t.k), wi(t.n * t.k); // w in [n, k]
        rng.fill(ai);
        rng.fill(wi);
        for (int64_t r = 0; r < t.m; ++r)
          std::copy_n(&ai[r * t.k], t.k, &a[i * aBatch + r * lda]);
        for (int64_t j = 0; j < t.n; ++j)
          for (int64_t p = 0; p < t.k; ++p)
            b[i * bBatch + (kn ? p * ldb + j : j * ldb + p)] = wi[j * t.k + p];
        oracles.push_back(gemmOracle(s, ai, wi, nullptr));
      }
      auto run = [&](ThreadPool *pool) {
        std::vector<float> c(t.batch * cBatch, -3.0f);
        if (pool)
          batchGemm(t.batch, t.m, t.n, t.k, a.data(), aBatch, lda, b.data(), bBatch, ldb, kn,
                    c.data(), cBatch, ldc, pool);
        else
          tessel_batch_gemm_f32(t.batch, t.m, t.n, t.k, a.data(), aBatch, lda, b.data(), bBatch,
                                ldb, kn ? 1 : 0, c.data(), cBatch, ldc);
        return c;
      };
      const std::vector<float> c1 = run(&pool1);
      const std::string what = std::string("batch gemm ") + (kn ? "[k, n]" : "[n, k]");
      for (int64_t i = 0; i < t.batch; ++i) {
        expectGemm(oracles[i], s, &c1[i * cBatch], ldc, what);
        for (int64_t r = 0; r < t.m; ++r)
          for (int64_t j = t.n; j < ldc && i * cBatch + r * ldc + j < t.batch * cBatch; ++j)
            ASSERT_EQ(c1[i * cBatch + r * ldc + j], -3.0f) << what << ": wrote past a row";
      }
      EXPECT_EQ(run(&pool2), c1) << what << ": 2 threads differ from 1";
      EXPECT_EQ(run(&pool3), c1) << what << ": 3 threads differ from 1";
      EXPECT_EQ(run(nullptr), c1) << what << ": the C entry point differs";
    }
}

TEST_P(KernelTest, PrepackedGemmMatchesReference) {
  Rng rng(3);
  ThreadPool pool2(2);
  for (const GemmShape &s : kGemmShapes) {
    std::vector<float> a(s.m * s.k), w(s.n * s.k), bias(s.n);
    rng.fill(a);
    rng.fill(w);
    rng.fill(bias);
    const int64_t size = tessel_gemm_packed_size_f32(s.n, s.k);
    ASSERT_EQ(size, (s.n + 31) / 32 * 32 * s.k);
    auto packed = hwy::AllocateAligned<float>(std::max<int64_t>(size, 1));
    tessel_gemm_pack_w_f32(s.n, s.k, w.data(), s.k, packed.get());
    // The layout is the documented one, independent of the target.
    for (int64_t j = 0; j < s.n; j += 7)
      for (int64_t p = 0; p < s.k; p += 5)
        ASSERT_EQ(packed[((j / 32) * s.k + p) * 32 + j % 32], w[j * s.k + p]);
    const GemmOracle o = gemmOracle(s, a, w, &bias);
    std::vector<float> c(s.m * s.n), ct(s.m * s.n);
    tessel_gemm_packed_f32(s.m, s.n, s.k, a.data(), s.k, packed.get(), bias.data(), c.data(), s.n);
    expectGemm(o, s, c.data(), s.n, "gemm packed");
    gemmPacked(s.m, s.n, s.k, a.data(), s.k, packed.get(), bias.data(), ct.data(), s.n, &pool2);
    EXPECT_EQ(c, ct);
  }
}

TEST_P(KernelTest, GemvMatchesReferenceLinear) {
  Rng rng(4);
  ThreadPool pool2(2);
  for (int64_t n : {1, 3, 17, 33, 100, 1000})
    for (int64_t k : {1, 3, 17, 33, 100, 4097}) {
      const GemmShape s{1, n, k};
      std::vector<float> x(k), w(n * k), bias(n);
      rng.fill(x);
      rng.fill(w);
      rng.fill(bias);
      for (bool withBias : {false, true}) {
        const GemmOracle o = gemmOracle(s, x, w, withBias ? &bias : nullptr);
        const float *b = withBias ? bias.data() : nullptr;
        std::vector<float> y(n), y2(n);
        tessel_gemv_f32(n, k, x.data(), w.data(), k, b, y.data());
        expectGemm(o, s, y.data(), n, "gemv");
        gemv(n, k, x.data(), w.data(), k, b, y2.data(), &pool2);
        EXPECT_EQ(y, y2);
      }
    }
}

//===----------------------------------------------------------------------===//
// GEMM epilogues: addend (residual) and gated linear unit
//===----------------------------------------------------------------------===//

// The grid m x n x k (skinny m <= 4, micro-kernel row remainders, panel and
// slice remainders, one K block), plus K deeper than one block (the addend
// must join exactly once, also in place; the gate and up sums wait in
// scratch), N wider than one B block, M taller than a gated row block
// (kGluRows = 384), a row split with a 4-row last part, and k = 0.
std::vector<GemmShape> epilogueShapes() {
  std::vector<GemmShape> shapes;
  for (int64_t m : {1, 2, 3, 4, 5, 17, 64, 130})
    for (int64_t n : {1, 7, 32, 33, 100})
      for (int64_t k : {1, 3, 64, 129})
        shapes.push_back({m, n, k});
  for (GemmShape s :
       {GemmShape{3, 33, 300}, GemmShape{28, 32, 300}, GemmShape{130, 100, 520},
        GemmShape{400, 300, 260}, GemmShape{9, 600, 40}, GemmShape{5, 7, 0}, GemmShape{2, 9, 0}})
    shapes.push_back(s);
  return shapes;
}

// `rows` rows of `cols` floats from `src` (contiguous) at stride ld >= cols;
// the padding holds `pad`.
std::vector<float> withStride(const std::vector<float> &src, int64_t rows, int64_t cols, int64_t ld,
                              float pad) {
  std::vector<float> out(std::max<int64_t>(rows * ld, 1), pad);
  for (int64_t i = 0; i < rows; ++i)
    std::copy_n(src.data() + i * cols, cols, out.data() + i * ld);
  return out;
}

// The padding of c (columns n to ldc) must still hold `pad`.
void expectPaddingKept(const std::vector<float> &c, const GemmShape &s, int64_t ldc, float pad,
                       const std::string &what) {
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = s.n; j < ldc; ++j)
      ASSERT_EQ(c[i * ldc + j], pad) << what << ": wrote past a row";
}

// In f64: sum_p a[i, p] w[j, p] and sum_p |a[i, p] w[j, p]|, [m, n].
void dotsF64(const GemmShape &s, const std::vector<float> &a, const float *w,
             std::vector<double> &dot, std::vector<double> &magnitude) {
  dot.assign(s.m * s.n, 0.0);
  magnitude.assign(s.m * s.n, 0.0);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j)
      for (int64_t p = 0; p < s.k; ++p) {
        const double t = double(a[i * s.k + p]) * w[j * s.k + p];
        dot[i * s.n + j] += t;
        magnitude[i * s.n + j] += std::abs(t);
      }
}

std::string shapeName(const GemmShape &s) {
  return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

TEST_P(KernelTest, GemmAddendMatchesReference) {
  Rng rng(13);
  ThreadPool pool2(2);
  for (const GemmShape &s : epilogueShapes()) {
    std::vector<float> a(s.m * s.k), w(s.n * s.k), bias(s.n), addend(s.m * s.n);
    rng.fill(a);
    rng.fill(w);
    rng.fill(bias);
    rng.fill(addend, -4.0f, 4.0f); // a residual stream larger than the update
    std::vector<double> dot, magnitude;
    dotsF64(s, a, w.data(), dot, magnitude);
    // Padded strides everywhere (a NaN read from padding would show).
    const int64_t lda = s.k + 3, ldw = s.k + 5, ldc = s.n + 7, ldd = s.n + 2;
    const std::vector<float> ap = withStride(a, s.m, s.k, lda, NAN);
    const std::vector<float> wp = withStride(w, s.n, s.k, ldw, NAN);
    const std::vector<float> dp = withStride(addend, s.m, s.n, ldd, NAN);
    for (bool withBias : {false, true})
      for (bool withAddend : {false, true}) {
        const std::string what = "gemm_addend " + shapeName(s) + (withBias ? " bias" : "") +
                                 (withAddend ? " addend" : "");
        const float *b = withBias ? bias.data() : nullptr;
        const float *d = withAddend ? dp.data() : nullptr;
        std::vector<float> c1(s.m * ldc, -3.0f);
        gemmAddend(s.m, s.n, s.k, ap.data(), lda, wp.data(), ldw, b, d, ldd, c1.data(), ldc,
                   nullptr);
        int failures = 0;
        for (int64_t i = 0; i < s.m && failures < 5; ++i)
          for (int64_t j = 0; j < s.n && failures < 5; ++j) {
            double want = dot[i * s.n + j], mag = magnitude[i * s.n + j];
            if (withBias)
              want += bias[j], mag += std::abs(bias[j]);
            if (withAddend)
              want += addend[i * s.n + j], mag += std::abs(addend[i * s.n + j]);
            const double got = c1[i * ldc + j];
            if (!(std::abs(got - want) <= 1e-5 * mag + 1e-30)) {
              ADD_FAILURE() << what << ": c[" << i << "," << j << "] got " << got << " want "
                            << want;
              ++failures;
            }
          }
        expectPaddingKept(c1, s, ldc, -3.0f, what);

        // Two threads split N or M, never K: bit for bit the same; so is the
        // C ABI on the global pool.
        std::vector<float> c2(s.m * ldc, -3.0f), cAbi(s.m * ldc, -3.0f);
        gemmAddend(s.m, s.n, s.k, ap.data(), lda, wp.data(), ldw, b, d, ldd, c2.data(), ldc,
                   &pool2);
        ASSERT_EQ(c1, c2) << what << " with 2 threads";
        tessel_gemm_addend_f32(s.m, s.n, s.k, ap.data(), lda, wp.data(), ldw, b, d, ldd,
                               cAbi.data(), ldc);
        ASSERT_EQ(c1, cAbi) << what << " through the C ABI";

        // The unfused form, gemm then c += addend: bit for bit the same
        // where the addend joins after the whole sum (Kernels.h), and the
        // same as plain gemm without an addend.
        std::vector<float> unfused(s.m * ldc, -3.0f);
        gemm(s.m, s.n, s.k, ap.data(), lda, wp.data(), ldw, b, unfused.data(), ldc, nullptr);
        if (withAddend)
          for (int64_t i = 0; i < s.m; ++i)
            for (int64_t j = 0; j < s.n; ++j)
              unfused[i * ldc + j] += addend[i * s.n + j];
        if (!withAddend || s.k <= 256 || s.m <= 4) {
          ASSERT_EQ(c1, unfused) << what << " vs gemm then add";
        }
        if (!withAddend)
          continue;

        // In place: the addend is c itself (c += a w^T + bias), on 1 and 2
        // threads; the same bits as with a separate addend.
        for (ThreadPool *pool : {static_cast<ThreadPool *>(nullptr), &pool2}) {
          std::vector<float> cIn = withStride(addend, s.m, s.n, ldc, -3.0f);
          gemmAddend(s.m, s.n, s.k, ap.data(), lda, wp.data(), ldw, b, cIn.data(), ldc, cIn.data(),
                     ldc, pool);
          ASSERT_EQ(c1, cIn) << what << " in place, " << (pool ? 2 : 1) << " threads";
        }
      }
  }
}

// act(g) in f64, by the formulas of Kernels.h (without cancellation).
double activationF64(int activation, int tanhApprox, double g) {
  if (activation == TESSEL_GLU_SILU)
    return g / (1.0 + std::exp(-g));
  if (!tanhApprox)
    return 0.5 * g * std::erfc(-g / std::sqrt(2.0));
  const double u = 0.7978845608028654 * (g + 0.044715 * g * g * g);
  return g / (1.0 + std::exp(-2.0 * u));
}

TEST_P(KernelTest, GemmGluMatchesReference) {
  Rng rng(14);
  ThreadPool pool2(2);
  struct Act {
    int activation, tanhApprox;
    const char *name;
  };
  const Act acts[] = {{TESSEL_GLU_SILU, 0, "swiglu"},
                      {TESSEL_GLU_GELU, 0, "geglu erf"},
                      {TESSEL_GLU_GELU, 1, "geglu tanh"}};
  for (const GemmShape &s : epilogueShapes()) {
    // One fused [2n, k] weight: gate rows first, then up (w_up = w_gate + n*ldw).
    std::vector<float> a(s.m * s.k), w(2 * s.n * s.k);
    rng.fill(a);
    rng.fill(w);
    std::vector<double> gate, gateMag, up, upMag;
    dotsF64(s, a, w.data(), gate, gateMag);
    dotsF64(s, a, w.data() + s.n * s.k, up, upMag);
    const int64_t lda = s.k + 3, ldw = s.k + 5, ldc = s.n + 7;
    const std::vector<float> ap = withStride(a, s.m, s.k, lda, NAN);
    const std::vector<float> wp = withStride(w, 2 * s.n, s.k, ldw, NAN);
    const float *wGate = wp.data(), *wUp = wp.data() + s.n * ldw;
    for (const Act &act : acts) {
      const std::string what = std::string(act.name) + " " + shapeName(s);
      std::vector<float> c1(s.m * ldc, -3.0f);
      gemmGlu(s.m, s.n, s.k, ap.data(), lda, wGate, wUp, ldw, act.activation, act.tanhApprox,
              c1.data(), ldc, nullptr);
      int failures = 0;
      for (int64_t i = 0; i < s.m && failures < 5; ++i)
        for (int64_t j = 0; j < s.n && failures < 5; ++j) {
          const int64_t e = i * s.n + j;
          const double g = activationF64(act.activation, act.tanhApprox, gate[e]);
          const double want = g * up[e];
          const double tol = 1e-5 * (1.2 * gateMag[e] * std::abs(up[e]) + std::abs(g) * upMag[e] +
                                     std::abs(want)) +
                             1e-30;
          const double got = c1[i * ldc + j];
          if (!(std::abs(got - want) <= tol)) {
            ADD_FAILURE() << what << ": c[" << i << "," << j << "] got " << got << " want " << want
                          << " (tolerance " << tol << ")";
            ++failures;
          }
        }
      expectPaddingKept(c1, s, ldc, -3.0f, what);

      std::vector<float> c2(s.m * ldc, -3.0f), cAbi(s.m * ldc, -3.0f);
      gemmGlu(s.m, s.n, s.k, ap.data(), lda, wGate, wUp, ldw, act.activation, act.tanhApprox,
              c2.data(), ldc, &pool2);
      ASSERT_EQ(c1, c2) << what << " with 2 threads";
      tessel_gemm_glu_f32(s.m, s.n, s.k, ap.data(), lda, wGate, wUp, ldw, act.activation,
                          act.tanhApprox, cAbi.data(), ldc);
      ASSERT_EQ(c1, cAbi) << what << " through the C ABI";
    }
  }
}

//===----------------------------------------------------------------------===//
// Norms
//===----------------------------------------------------------------------===//

TEST_P(KernelTest, RmsNormMatchesReference) {
  Rng rng(5);
  const int64_t rows = 3;
  for (int64_t dim : {1, 3, 17, 33, 100, 4096})
    for (bool unitOffset : {false, true}) {
      std::vector<float> x(rows * dim), w(dim), y(rows * dim);
      rng.fill(x, -3.0f, 3.0f);
      rng.fill(w);
      const float eps = 1e-5f;
      const std::vector<float> want =
          unwrap(ref::rmsNorm(tensorOf({rows, dim}, x), tensorOf({dim}, w), eps, unitOffset)).f;
      tessel_rms_norm_f32(rows, dim, x.data(), w.data(), eps, unitOffset, y.data());
      expectClose(want, y.data(), 1e-5, 1e-6, "rms_norm dim " + std::to_string(dim));
      tessel_rms_norm_f32(rows, dim, x.data(), w.data(), eps, unitOffset, x.data()); // in place
      EXPECT_EQ(x, y);
    }
}

TEST_P(KernelTest, LayerNormMatchesReference) {
  Rng rng(6);
  const int64_t rows = 3;
  for (int64_t dim : {1, 3, 17, 33, 100, 4096})
    for (bool withBias : {false, true})
      for (float mean : {0.0f, 1000.0f}) { // a large mean needs the two-pass variance
        std::vector<float> x(rows * dim), w(dim), b(dim), y(rows * dim);
        rng.fill(x, mean - 2.0f, mean + 2.0f);
        rng.fill(w);
        rng.fill(b);
        const float eps = 1e-5f;
        Tensor tb = tensorOf({dim}, b);
        const std::vector<float> want =
            unwrap(ref::layerNorm(tensorOf({rows, dim}, x), tensorOf({dim}, w),
                                  withBias ? &tb : nullptr, eps))
                .f;
        tessel_layer_norm_f32(rows, dim, x.data(), w.data(), withBias ? b.data() : nullptr, eps,
                              y.data());
        // Inputs near 1000 carry an f32 rounding of 6e-5 each; relative to the
        // centred values of ~1 that is the floor of any f32 kernel.
        const double abs = mean == 0.0f ? 1e-6 : 2e-4;
        expectClose(want, y.data(), 1e-5, abs, "layer_norm dim " + std::to_string(dim));
      }
}

//===----------------------------------------------------------------------===//
// RoPE
//===----------------------------------------------------------------------===//

struct RopeCase {
  int layout;
  int64_t headDim, rotaryDim;
  float theta, scaling;
  bool freqFactors;
};

TEST_P(KernelTest, RopeMatchesReference) {
  Rng rng(7);
  const int64_t batch = 2, seq = 5, heads = 3;
  const RopeCase cases[] = {
      {TESSEL_ROPE_HALF_SPLIT, 64, 0, 10000.0f, 1.0f, false},
      {TESSEL_ROPE_INTERLEAVED, 64, 0, 10000.0f, 1.0f, false},
      {TESSEL_ROPE_HALF_SPLIT, 34, 20, 500000.0f, 8.0f, true},
      {TESSEL_ROPE_INTERLEAVED, 34, 20, 500000.0f, 2.0f, true},
      {TESSEL_ROPE_INTERLEAVED, 6, 2, 10000.0f, 1.0f, false},
      {TESSEL_ROPE_HALF_SPLIT, 128, 96, 1000000.0f, 1.0f, true},
      {TESSEL_ROPE_INTERLEAVED, 2, 0, 10000.0f, 1.0f, false},
  };
  for (const RopeCase &c : cases) {
    const int64_t hd = c.headDim, rot = c.rotaryDim ? c.rotaryDim : hd;
    std::vector<float> x(batch * seq * heads * hd), ff(rot / 2);
    rng.fill(x);
    rng.fill(ff, 1.0f, 8.0f);
    Tensor pos = Tensor::zerosI64({batch, seq});
    for (int64_t t = 0; t < batch * seq; ++t)
      pos.i[t] = t % 2 ? rng.below(5000) : t;
    ref::RopeParams p;
    p.layout = c.layout == TESSEL_ROPE_INTERLEAVED ? ref::RopeLayout::Interleaved
                                                   : ref::RopeLayout::HalfSplit;
    p.theta = c.theta;
    p.rotaryDim = c.rotaryDim;
    p.linearScaling = c.scaling;
    Tensor tff = tensorOf({rot / 2}, ff);
    const std::vector<float> want = unwrap(ref::rope(tensorOf({batch, seq, heads, hd}, x), pos, p,
                                                     c.freqFactors ? &tff : nullptr))
                                        .f;
    const std::string what = "rope hd " + std::to_string(hd) + " rot " + std::to_string(rot);
    const int64_t tokens = batch * seq, row = heads * hd;
    std::vector<float> y(x.size());
    tessel_rope_f32(tokens, heads, hd, x.data(), row, y.data(), row, pos.i.data(), c.layout,
                    c.theta, c.rotaryDim, c.scaling, c.freqFactors ? ff.data() : nullptr);
    expectClose(want, y.data(), 1e-5, 1e-6, what);

    // In place inside a wider (fused QKV-like) buffer: stride 2 * row.
    std::vector<float> fused(tokens * 2 * row, 5.0f);
    for (int64_t t = 0; t < tokens; ++t)
      std::copy_n(&x[t * row], row, &fused[t * 2 * row]);
    tessel_rope_f32(tokens, heads, hd, fused.data(), 2 * row, fused.data(), 2 * row, pos.i.data(),
                    c.layout, c.theta, c.rotaryDim, c.scaling, c.freqFactors ? ff.data() : nullptr);
    for (int64_t t = 0; t < tokens; ++t) {
      ASSERT_EQ(0, std::memcmp(&fused[t * 2 * row], &y[t * row], row * sizeof(float))) << what;
      ASSERT_EQ(fused[t * 2 * row + row], 5.0f);
    }
  }
}

// The cos/sin tables are kept per thread and reused while the arguments are
// the same (ropeTables): positions and frequency factors changed in place,
// under the same pointers, and another scaling, must each give the
// reference's result for the new arguments, never the old tables.
TEST_P(KernelTest, RopeTablesFollowTheirArguments) {
  Rng rng(17);
  const int64_t tokens = 6, heads = 2, hd = 16, row = heads * hd;
  std::vector<float> x(tokens * row), ff(hd / 2), y(x.size());
  rng.fill(x);
  rng.fill(ff, 1.0f, 4.0f);
  Tensor pos = Tensor::zerosI64({1, tokens});
  for (int64_t t = 0; t < tokens; ++t)
    pos.i[t] = t;
  float scaling = 1.0f;
  auto check = [&](const std::string &what) {
    ref::RopeParams p;
    p.layout = ref::RopeLayout::HalfSplit;
    p.theta = 10000.0f;
    p.linearScaling = scaling;
    Tensor tff = tensorOf({hd / 2}, ff);
    const std::vector<float> want =
        unwrap(ref::rope(tensorOf({1, tokens, heads, hd}, x), pos, p, &tff)).f;
    tessel_rope_f32(tokens, heads, hd, x.data(), row, y.data(), row, pos.i.data(),
                    TESSEL_ROPE_HALF_SPLIT, 10000.0f, 0, scaling, ff.data());
    expectClose(want, y.data(), 1e-5, 1e-6, what);
  };
  check("first call");
  check("same arguments");
  pos.i[3] = 4000; // a later position, same buffer
  check("positions changed in place");
  ff[2] *= 3.0f;
  check("frequency factors changed in place");
  scaling = 4.0f;
  check("another scaling");
}

//===----------------------------------------------------------------------===//
// Fused GEMMs: norm prologue and RoPE epilogue, against the unfused kernels
//===----------------------------------------------------------------------===//

// m from decode (1-4: the skinny path) through micro-kernel row remainders
// to several M blocks (> kMC = 96; 400 also splits rows across threads when
// n is one panel); n a multiple of 32 or not, one panel (32) or several;
// k deeper than one K block (300, 520: the prologue normalises each 256-deep
// span separately); N wider than one B block (600 > kNC); k = 0.
std::vector<GemmShape> normGemmShapes() {
  std::vector<GemmShape> shapes;
  for (int64_t m : {1, 2, 3, 4, 5, 17, 64, 130, 400})
    for (auto [n, k] : {std::pair<int64_t, int64_t>{7, 33}, {32, 300}, {100, 64}, {67, 520}})
      shapes.push_back({m, n, k});
  for (GemmShape s :
       {GemmShape{9, 600, 40}, GemmShape{3, 600, 40}, GemmShape{6, 5, 0}, GemmShape{2, 9, 0}})
    shapes.push_back(s);
  return shapes;
}

// |got - want| <= 1e-5 * tolScale[e] (+ a denormal floor), element by element
// over m rows of n at stride ldc; then the padding (columns n to ldc) must
// still hold `pad`.
void expectCloseScaled(const std::vector<float> &want, const std::vector<float> &got,
                       const std::vector<double> &tolScale, const GemmShape &s, int64_t ldc,
                       float pad, const std::string &what) {
  int failures = 0;
  for (int64_t i = 0; i < s.m && failures < 5; ++i)
    for (int64_t j = 0; j < s.n && failures < 5; ++j) {
      const double w = want[i * ldc + j], g = got[i * ldc + j];
      const double tol = 1e-5 * tolScale[i * s.n + j] + 1e-30;
      if (!(std::abs(g - w) <= tol)) {
        ADD_FAILURE() << what << ": c[" << i << "," << j << "] got " << g << " want " << w
                      << " (tolerance " << tol << ")";
        ++failures;
      }
    }
  expectPaddingKept(got, s, ldc, pad, what);
}

// sum_p |x[i, p] w[j, p]| in f64, [m, n]; four partial sums, for speed (the
// sums of the big shapes dominate the fused tests' time otherwise).
std::vector<double> productMagnitudes(const GemmShape &s, const std::vector<float> &x,
                                      const std::vector<float> &w) {
  std::vector<double> magnitude(s.m * s.n);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      const float *xi = &x[i * s.k], *wj = &w[j * s.k];
      double part[4] = {0.0, 0.0, 0.0, 0.0};
      int64_t p = 0;
      for (; p + 4 <= s.k; p += 4)
        for (int q = 0; q < 4; ++q)
          part[q] += std::abs(double(xi[p + q]) * wj[p + q]);
      for (; p < s.k; ++p)
        part[0] += std::abs(double(xi[p]) * wj[p]);
      magnitude[i * s.n + j] = (part[0] + part[1]) + (part[2] + part[3]);
    }
  return magnitude;
}

// The scale of a fused GEMM's tolerance against the unfused kernels, per
// element: |bias| + sum_p |x_p w_p| over the (unfused) GEMM input x, the
// bound of f32 summation used by the GEMM tests, which both results meet.
// `products` holds the sums without the bias (productMagnitudes).
std::vector<double> gemmMagnitude(const GemmShape &s, const std::vector<double> &products,
                                  const float *bias) {
  std::vector<double> magnitude = products;
  for (int64_t i = 0; i < s.m && bias; ++i)
    for (int64_t j = 0; j < s.n; ++j)
      magnitude[i * s.n + j] += std::abs(bias[j]);
  return magnitude;
}

// Tolerance: 1e-5 * (|bias| + sum_p |x_p w_p|) against tessel_*_norm_f32 then
// tessel_gemm_f32, x being the norm kernel's output. The prologue computes
// every normalised value by the norm kernel's code (Kernels.h), so the
// result must also be bit for bit the unfused one.
TEST_P(KernelTest, NormGemmMatchesNormThenGemm) {
  Rng rng(15);
  ThreadPool pool2(2);
  const float eps = 1e-5f;
  for (const GemmShape &s : normGemmShapes()) {
    std::vector<float> a(s.m * s.k), w(s.n * s.k), bias(s.n), normW(s.k), normB(s.k);
    rng.fill(a, -3.0f, 3.0f);
    rng.fill(w);
    rng.fill(bias);
    rng.fill(normW, 0.5f, 1.5f);
    rng.fill(normB);
    if (s.m > 2 && s.k > 0) { // a row with a large mean (LayerNorm's two passes)
      for (int64_t p = 0; p < s.k; ++p)
        a[2 * s.k + p] += 100.0f;
    }
    const int64_t lda = s.k + 3, ldw = s.k + 5, ldc = s.n + 7;
    const std::vector<float> ap = withStride(a, s.m, s.k, lda, NAN);
    const std::vector<float> wp = withStride(w, s.n, s.k, ldw, NAN);
    for (int norm = 0; norm < 2; ++norm)  // 0: RMSNorm, 1: LayerNorm
      for (bool option : {false, true}) { // unit_offset, or LayerNorm's norm_b
        const float *nb = option ? normB.data() : nullptr;
        // Unfused: the norm kernel into [m, k], then the GEMM.
        std::vector<float> x(s.m * s.k);
        if (norm)
          tessel_layer_norm_f32(s.m, s.k, a.data(), normW.data(), nb, eps, x.data());
        else
          tessel_rms_norm_f32(s.m, s.k, a.data(), normW.data(), eps, option, x.data());
        const std::vector<double> products = productMagnitudes(s, x, w);
        for (bool withBias : {false, true}) {
          const std::string what =
              std::string(norm ? "layer_norm_gemm " : "rms_norm_gemm ") + shapeName(s) +
              (option ? (norm ? " norm_b" : " unit_offset") : "") + (withBias ? " bias" : "");
          const float *b = withBias ? bias.data() : nullptr;
          std::vector<float> want(s.m * ldc, -3.0f);
          gemm(s.m, s.n, s.k, x.data(), s.k, w.data(), s.k, b, want.data(), ldc, nullptr);

          auto fused = [&](ThreadPool *pool, std::vector<float> &c) {
            if (norm)
              layerNormGemm(s.m, s.n, s.k, ap.data(), lda, normW.data(), nb, eps, wp.data(), ldw, b,
                            c.data(), ldc, pool);
            else
              rmsNormGemm(s.m, s.n, s.k, ap.data(), lda, normW.data(), eps, option, wp.data(), ldw,
                          b, c.data(), ldc, pool);
          };
          std::vector<float> c1(s.m * ldc, -3.0f);
          fused(nullptr, c1);
          expectCloseScaled(want, c1, gemmMagnitude(s, products, b), s, ldc, -3.0f, what);
          ASSERT_EQ(c1, want) << what << " vs the norm then gemm, bit for bit";

          // Two threads: bit for bit the same; so is the C ABI.
          std::vector<float> c2(s.m * ldc, -3.0f), cAbi(s.m * ldc, -3.0f);
          fused(&pool2, c2);
          ASSERT_EQ(c1, c2) << what << " with 2 threads";
          if (norm)
            tessel_layer_norm_gemm_f32(s.m, s.n, s.k, ap.data(), lda, normW.data(), nb, eps,
                                       wp.data(), ldw, b, cAbi.data(), ldc);
          else
            tessel_rms_norm_gemm_f32(s.m, s.n, s.k, ap.data(), lda, normW.data(), eps, option,
                                     wp.data(), ldw, b, cAbi.data(), ldc);
          ASSERT_EQ(c1, cAbi) << what << " through the C ABI";
        }
      }
  }
}

struct GemmRopeCase {
  int layout;
  int64_t heads, headDim, rotaryDim; // rotaryDim 0 = headDim
  int64_t extraCols;                 // unrotated columns after the heads (a fused V)
  int64_t k;
  float theta, scaling;
  bool freqFactors;
};

// Both layouts; full and partial rotary_dim; freq_factors and linear
// scaling; head_dim a multiple of the 32-column panel or not (34, 80: heads
// straddle panels, and with 80 the 512-column B block too; 34 leaves too few
// head-aligned column units, so two threads split rows); unrotated columns
// after the heads; k over one K block (257, 300, 520) or not, or 0.
const GemmRopeCase kGemmRopeCases[] = {
    {TESSEL_ROPE_HALF_SPLIT, 4, 64, 0, 0, 300, 10000.0f, 1.0f, false},
    {TESSEL_ROPE_INTERLEAVED, 4, 64, 0, 0, 33, 10000.0f, 1.0f, false},
    {TESSEL_ROPE_HALF_SPLIT, 3, 34, 20, 0, 70, 500000.0f, 8.0f, true},
    {TESSEL_ROPE_INTERLEAVED, 3, 34, 20, 0, 257, 500000.0f, 2.0f, true},
    {TESSEL_ROPE_INTERLEAVED, 5, 6, 2, 10, 40, 10000.0f, 1.0f, false},
    {TESSEL_ROPE_HALF_SPLIT, 2, 128, 96, 0, 520, 1000000.0f, 1.0f, true},
    {TESSEL_ROPE_HALF_SPLIT, 8, 80, 0, 96, 64, 10000.0f, 1.0f, false},
    {TESSEL_ROPE_INTERLEAVED, 7, 2, 0, 0, 5, 10000.0f, 1.0f, false},
    {TESSEL_ROPE_HALF_SPLIT, 2, 8, 6, 3, 0, 10000.0f, 1.0f, false}, // k = 0: c = rope(bias)
};

// The column that column j is rotated with (j itself if not rotated).
int64_t ropePartner(const GemmRopeCase &c, int64_t j) {
  const int64_t rot = c.rotaryDim ? c.rotaryDim : c.headDim;
  const int64_t d = j % c.headDim, head0 = j - d;
  if (j >= c.heads * c.headDim || d >= rot)
    return j;
  if (c.layout == TESSEL_ROPE_INTERLEAVED)
    return head0 + (d ^ 1);
  return head0 + (d < rot / 2 ? d + rot / 2 : d - rot / 2);
}

// Tolerance: a rotated element mixes the GEMM outputs j and partner(j) with
// cos and sin, so it is 1e-5 * (M_j + M_partner) against tessel_gemm_f32
// then tessel_rope_f32 (in place on c), M being the GEMM tests' magnitude
// |bias| + sum_p |a_p w_p|. The fused kernel runs the same sums and the same
// rotation code on the same tables (Kernels.h), so it must also match bit
// for bit.
TEST_P(KernelTest, GemmRopeMatchesGemmThenRope) {
  Rng rng(16);
  ThreadPool pool2(2);
  for (const GemmRopeCase &c : kGemmRopeCases)
    for (int64_t m : {1, 2, 3, 4, 5, 17, 64, 130, 400}) {
      const int64_t rot = c.rotaryDim ? c.rotaryDim : c.headDim;
      const GemmShape s{m, c.heads * c.headDim + c.extraCols, c.k};
      std::vector<float> a(s.m * s.k), w(s.n * s.k), bias(s.n), ff(rot / 2);
      rng.fill(a);
      rng.fill(w);
      rng.fill(bias);
      rng.fill(ff, 1.0f, 8.0f);
      const float *freq = c.freqFactors ? ff.data() : nullptr;
      std::vector<int64_t> pos(m); // non-consecutive, some large
      for (int64_t i = 0; i < m; ++i)
        pos[i] = i % 3 == 1 ? rng.below(5000) : 2 * i + 3;
      const int64_t lda = s.k + 3, ldw = s.k + 5, ldc = s.n + 7;
      const std::vector<float> ap = withStride(a, s.m, s.k, lda, NAN);
      const std::vector<float> wp = withStride(w, s.n, s.k, ldw, NAN);
      const std::vector<double> products = productMagnitudes(s, a, w);
      for (bool withBias : {false, true}) {
        const std::string what = std::string("gemm_rope ") +
                                 (c.layout == TESSEL_ROPE_INTERLEAVED ? "interleaved " : "half ") +
                                 "hd " + std::to_string(c.headDim) + " rot " + std::to_string(rot) +
                                 " " + shapeName(s) + (withBias ? " bias" : "");
        const float *b = withBias ? bias.data() : nullptr;
        std::vector<float> want(s.m * ldc, -3.0f);
        gemm(s.m, s.n, s.k, a.data(), s.k, w.data(), s.k, b, want.data(), ldc, nullptr);
        tessel_rope_f32(s.m, c.heads, c.headDim, want.data(), ldc, want.data(), ldc, pos.data(),
                        c.layout, c.theta, c.rotaryDim, c.scaling, freq);

        const std::vector<double> magnitude = gemmMagnitude(s, products, b);
        std::vector<double> tolScale(s.m * s.n);
        for (int64_t i = 0; i < s.m; ++i)
          for (int64_t j = 0; j < s.n; ++j)
            tolScale[i * s.n + j] = magnitude[i * s.n + j] + magnitude[i * s.n + ropePartner(c, j)];

        auto fused = [&](ThreadPool *pool, std::vector<float> &out) {
          gemmRope(s.m, s.n, s.k, ap.data(), lda, wp.data(), ldw, b, out.data(), ldc, c.heads,
                   c.headDim, pos.data(), c.layout, c.theta, c.rotaryDim, c.scaling, freq, pool);
        };
        std::vector<float> c1(s.m * ldc, -3.0f);
        fused(nullptr, c1);
        expectCloseScaled(want, c1, tolScale, s, ldc, -3.0f, what);
        ASSERT_EQ(c1, want) << what << " vs gemm then rope, bit for bit";

        // Two threads (a column split at head boundaries, even or not, or a
        // row split where head_dim = 34 leaves one head-aligned unit): bit
        // for bit the same; so is the C ABI.
        std::vector<float> c2(s.m * ldc, -3.0f), cAbi(s.m * ldc, -3.0f);
        fused(&pool2, c2);
        ASSERT_EQ(c1, c2) << what << " with 2 threads";
        tessel_gemm_rope_f32(s.m, s.n, s.k, ap.data(), lda, wp.data(), ldw, b, cAbi.data(), ldc,
                             c.heads, c.headDim, pos.data(), c.layout, c.theta, c.rotaryDim,
                             c.scaling, freq);
        ASSERT_EQ(c1, cAbi) << what << " through the C ABI";
      }
    }
}

//===----------------------------------------------------------------------===//
// Softmax, activations, top-k
//===----------------------------------------------------------------------===//

TEST_P(KernelTest, SoftmaxMatchesReference) {
  Rng rng(8);
  const int64_t rows = 3;
  for (int64_t n : {1, 3, 17, 33, 100, 1000}) {
    std::vector<float> x(rows * n), y(rows * n);
    rng.fill(x, -30.0f, 30.0f);
    x[0] = -std::numeric_limits<float>::infinity(); // a masked logit
    if (n > 1)
      x[n + 1] = 80.0f; // would overflow exp without max-shift
    const std::vector<float> want = unwrap(ref::softmax(tensorOf({rows, n}, x), -1)).f;
    tessel_softmax_f32(rows, n, x.data(), y.data());
    expectClose(want, y.data(), 1e-5, 1e-12, "softmax n " + std::to_string(n));
  }
}

// The reference's FFN with identity weights is the oracle for the bare
// activations: gated: x = [g; u], gate = [I 0], up = [0 I], down = [I; 0].
std::vector<float> referenceActivation(ref::Activation act, bool tanhApprox,
                                       const std::vector<float> &g, const std::vector<float> *u) {
  const int64_t d = static_cast<int64_t>(g.size());
  ref::FfnParams p;
  p.activation = act;
  p.tanhApprox = tanhApprox;
  if (!u) {
    Tensor eye = Tensor::zerosF32({d, d});
    for (int64_t i = 0; i < d; ++i)
      eye.f[i * d + i] = 1.0f;
    ref::FfnWeights w{&eye, nullptr, &eye};
    return unwrap(ref::ffn(tensorOf({1, d}, g), w, nullptr, nullptr, p)).f;
  }
  Tensor x = Tensor::zerosF32({1, 2 * d});
  std::copy(g.begin(), g.end(), x.f.begin());
  std::copy(u->begin(), u->end(), x.f.begin() + d);
  Tensor gate = Tensor::zerosF32({d, 2 * d}), up = Tensor::zerosF32({d, 2 * d});
  Tensor down = Tensor::zerosF32({2 * d, d});
  for (int64_t i = 0; i < d; ++i) {
    gate.f[i * 2 * d + i] = 1.0f;
    up.f[i * 2 * d + d + i] = 1.0f;
    down.f[i * d + i] = 1.0f;
  }
  ref::FfnWeights w{&up, &gate, &down};
  std::vector<float> out = unwrap(ref::ffn(x, w, nullptr, nullptr, p)).f;
  out.resize(d);
  return out;
}

TEST_P(KernelTest, ActivationsMatchReferenceFfn) {
  Rng rng(9);
  for (int64_t n : {1, 3, 17, 33, 100}) {
    std::vector<float> g(n), u(n), y(n);
    rng.fill(g, -12.0f, 12.0f);
    rng.fill(u, -2.0f, 2.0f);
    const float specials[] = {0.0f, -0.0f, 1e-20f, -1e-20f, 3.0f, -3.0f, -9.5f, 30.0f, -80.0f};
    for (int64_t i = 0; i < n && i < 9; ++i)
      g[i] = specials[i];
    const std::string sz = " n " + std::to_string(n);
    // Relative 1e-5, plus an absolute 1e-14: the reference evaluates
    // 0.5 x (1 + erf(x / sqrt 2)) (and 1 + tanh) in f64, which cancels to 0
    // for x < -8 and keeps only a few digits below x = -5 (the tails are
    // checked against erfc below).
    tessel_silu_f32(n, g.data(), y.data());
    expectClose(referenceActivation(ref::Activation::Silu, false, g, nullptr), y.data(), 1e-5,
                1e-14, "silu" + sz);
    tessel_silu_mul_f32(n, g.data(), u.data(), y.data());
    expectClose(referenceActivation(ref::Activation::SwiGLU, false, g, &u), y.data(), 1e-5, 1e-14,
                "silu_mul" + sz);
    for (int tanhApprox : {0, 1}) {
      const std::string what = (tanhApprox ? " tanh" : " erf") + sz;
      tessel_gelu_f32(n, g.data(), tanhApprox, y.data());
      expectClose(referenceActivation(ref::Activation::Gelu, tanhApprox, g, nullptr), y.data(),
                  1e-5, 1e-14, "gelu" + what);
      tessel_gelu_mul_f32(n, g.data(), u.data(), tanhApprox, y.data());
      expectClose(referenceActivation(ref::Activation::GeGLU, tanhApprox, g, &u), y.data(), 1e-5,
                  1e-14, "gelu_mul" + what);
    }
  }
}

// The tails, where the reference cancels: exact GELU is 0.5 x erfc(-x/sqrt 2)
// and the tanh form is x / (1 + exp(-2u)), both free of cancellation in f64.
TEST_P(KernelTest, GeluTailsKeepRelativeAccuracy) {
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.37f)
    x.push_back(v);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y(n), wantErf(n), wantTanh(n), wantSilu(n);
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i], u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    wantErf[i] = static_cast<float>(0.5 * v * std::erfc(-v / std::sqrt(2.0)));
    wantTanh[i] = static_cast<float>(v / (1.0 + std::exp(-2.0 * u)));
    wantSilu[i] = static_cast<float>(v / (1.0 + std::exp(-v)));
  }
  tessel_gelu_f32(n, x.data(), 0, y.data());
  expectClose(wantErf, y.data(), 1e-5, 1e-37, "gelu erf tails");
  tessel_gelu_f32(n, x.data(), 1, y.data());
  expectClose(wantTanh, y.data(), 1e-5, 1e-37, "gelu tanh tails");
  tessel_silu_f32(n, x.data(), y.data());
  expectClose(wantSilu, y.data(), 1e-5, 1e-37, "silu tails");
}

// The order the reference uses for MoE routing: a stable sort, descending.
void oracleTopK(const float *x, int64_t n, int64_t k, std::vector<int64_t> &idx) {
  idx.resize(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    if (std::isnan(x[a]) != std::isnan(x[b]))
      return std::isnan(x[b]);
    return x[a] > x[b];
  });
  idx.resize(k);
}

TEST_P(KernelTest, TopKMatchesStableSortOrder) {
  Rng rng(10);
  const int64_t rows = 3;
  for (int64_t n : {1, 5, 17, 100, 1000, 32000})
    for (int64_t k : {1, 2, 5, 17, 200})
      for (bool ties : {false, true}) {
        if (k > n)
          continue;
        std::vector<float> x(rows * n);
        for (float &v : x)
          v = ties ? static_cast<float>(rng.below(7)) : rng.uniform();
        // Ascending data: every element beats the current k-th.
        if (n > 1)
          for (int64_t j = 0; j < n; ++j)
            x[2 * n + j] = static_cast<float>(j) / n;
        x[0] = -std::numeric_limits<float>::infinity();
        std::vector<int64_t> idx(rows * k);
        std::vector<float> val(rows * k);
        tessel_topk_f32(rows, n, k, x.data(), idx.data(), val.data());
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<int64_t> want;
          oracleTopK(&x[r * n], n, k, want);
          for (int64_t i = 0; i < k; ++i) {
            ASSERT_EQ(idx[r * k + i], want[i]) << "n " << n << " k " << k << " row " << r
                                               << " rank " << i << (ties ? " ties" : "");
            ASSERT_EQ(val[r * k + i], x[r * n + want[i]]);
          }
        }
      }
}

TEST_P(KernelTest, TopKRanksNaNLast) {
  std::vector<float> x = {NAN, 1.0f, NAN, 3.0f, 2.0f, NAN, NAN, NAN, NAN, NAN,
                          NAN, NAN,  NAN, NAN,  NAN,  NAN, NAN, NAN, NAN, 5.0f};
  const int64_t n = static_cast<int64_t>(x.size());
  for (int64_t k : {1, 3, 6}) {
    std::vector<int64_t> idx(k), want;
    tessel_topk_f32(1, n, k, x.data(), idx.data(), nullptr);
    oracleTopK(x.data(), n, k, want);
    EXPECT_EQ(idx, want) << "k " << k;
  }
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

enum class MaskKind { kNone, kPadding, kFull };

struct AttnCase {
  const char *name;
  int64_t batch, qLen, kvLen, heads, kvHeads, hd, vd;
  bool causal;
  int64_t window;
  MaskKind mask;
  bool sinks;
  int64_t kvTile;
  float scale; // 0 = default
};

const AttnCase kAttnCases[] = {
    {"mha", 1, 3, 17, 2, 2, 8, 8, false, 0, MaskKind::kNone, false, 0, 0.0f},
    {"gqa_causal_prefill_tile16", 2, 33, 33, 8, 2, 16, 16, true, 0, MaskKind::kNone, false, 16,
     0.0f},
    {"mqa_window_tile13", 1, 40, 100, 4, 1, 32, 24, true, 7, MaskKind::kNone, false, 13, 0.0f},
    {"window_without_causal", 1, 9, 30, 2, 1, 8, 8, false, 5, MaskKind::kNone, false, 4, 0.3f},
    {"padding_mask", 2, 5, 50, 4, 2, 16, 16, true, 0, MaskKind::kPadding, false, 16, 0.0f},
    {"full_mask_empty_rows", 2, 17, 33, 3, 3, 12, 20, false, 0, MaskKind::kFull, false, 8, 0.0f},
    {"sinks", 1, 6, 70, 4, 2, 16, 16, true, 0, MaskKind::kNone, true, 32, 0.0f},
    {"sinks_empty_rows", 1, 5, 12, 2, 1, 8, 8, false, 0, MaskKind::kFull, true, 5, 0.0f},
    {"more_queries_than_keys", 1, 20, 5, 2, 2, 4, 4, false, 0, MaskKind::kNone, false, 0, 0.0f},
    {"chunked_prefill_odd", 1, 50, 301, 6, 2, 17, 9, true, 0, MaskKind::kNone, false, 0, 0.0f},
    {"empty_kv", 1, 2, 0, 2, 1, 8, 8, false, 0, MaskKind::kNone, false, 0, 0.0f},
    {"decode_long_gqa_split", 1, 1, 3000, 8, 2, 64, 64, true, 0, MaskKind::kNone, false, 0, 0.0f},
    {"decode_long_window_sinks", 1, 1, 2500, 4, 1, 64, 64, true, 1000, MaskKind::kNone, true, 0,
     0.0f},
    {"prefill_long", 1, 96, 2048, 4, 2, 64, 64, true, 0, MaskKind::kNone, false, 0, 0.0f},
    // Prefill blocks (transposed scores): stories15M's heads of 48, keys
    // not a multiple of the score kernel's four; and a short chunk whose
    // one block is split over the threads (its state combined, with sinks).
    {"prefill_mha_head48", 1, 70, 70, 6, 6, 48, 48, true, 0, MaskKind::kNone, false, 0, 0.0f},
    {"chunk_split_kv_sinks", 1, 5, 600, 2, 1, 32, 40, true, 0, MaskKind::kNone, true, 0, 0.0f},
    // Decode's few rows per KV head take dot products instead of the packed
    // GEMM: one row (MHA), keys in fours plus a remainder; two rows with a
    // head size that is no multiple of the vector.
    {"decode_mha_dot_products", 1, 1, 130, 6, 6, 64, 64, true, 0, MaskKind::kNone, false, 0, 0.0f},
    {"decode_gqa2_odd_head_dim", 1, 1, 77, 4, 2, 40, 24, true, 0, MaskKind::kNone, false, 0, 0.0f},
};

struct AttnData {
  std::vector<float> q, k, v, sinks;
  Tensor mask; // I1, [batch, kvLen] or [batch, qLen, kvLen]
};

AttnData makeAttnData(const AttnCase &c, Rng &rng) {
  AttnData d;
  d.q.resize(c.batch * c.qLen * c.heads * c.hd);
  d.k.resize(c.batch * c.kvLen * c.kvHeads * c.hd);
  d.v.resize(c.batch * c.kvLen * c.kvHeads * c.vd);
  d.sinks.resize(c.heads);
  rng.fill(d.q, -2.0f, 2.0f);
  rng.fill(d.k, -2.0f, 2.0f);
  rng.fill(d.v);
  rng.fill(d.sinks, -1.0f, 3.0f);
  if (c.mask == MaskKind::kPadding) {
    d.mask = Tensor::zerosI64({c.batch, c.kvLen}, ref::DType::I1);
    for (int64_t &m : d.mask.i)
      m = rng.below(4) != 0;
  } else if (c.mask == MaskKind::kFull) {
    d.mask = Tensor::zerosI64({c.batch, c.qLen, c.kvLen}, ref::DType::I1);
    for (int64_t &m : d.mask.i)
      m = rng.below(3) != 0;
    for (int64_t j = 0; j < c.kvLen; ++j)
      d.mask.i[2 * c.kvLen + j] = 0; // row 2 sees nothing
    if (c.batch > 1)                 // and row 1 of batch 1
      for (int64_t j = 0; j < c.kvLen; ++j)
        d.mask.i[(c.qLen + 1) * c.kvLen + j] = 0;
  }
  return d;
}

std::vector<float> referenceAttention(const AttnCase &c, const AttnData &d) {
  ref::AttentionParams p;
  p.causal = c.causal;
  p.window = c.window;
  if (c.scale != 0.0f)
    p.scale = c.scale;
  Tensor sinks = tensorOf({c.heads}, d.sinks);
  return unwrap(ref::attention(tensorOf({c.batch, c.qLen, c.heads, c.hd}, d.q),
                               tensorOf({c.batch, c.kvLen, c.kvHeads, c.hd}, d.k),
                               tensorOf({c.batch, c.kvLen, c.kvHeads, c.vd}, d.v),
                               c.mask == MaskKind::kNone ? nullptr : &d.mask,
                               c.sinks ? &sinks : nullptr, p))
      .f;
}

void expectAttention(const std::vector<float> &want, const std::vector<float> &got,
                     const std::vector<float> &v, const std::string &what) {
  float vmax = 0.0f;
  for (float x : v)
    vmax = std::max(vmax, std::abs(x));
  expectClose(want, got.data(), 0.0, 1e-5 * vmax + 1e-30, what);
}

TEST_P(KernelTest, AttentionMatchesReference) {
  Rng rng(11);
  ThreadPool pool1(1), pool2(2);
  for (const AttnCase &c : kAttnCases) {
    const AttnData d = makeAttnData(c, rng);
    const std::vector<float> want = referenceAttention(c, d);
    // Contiguous layout through the C ABI.
    std::vector<uint8_t> mask(d.mask.i.begin(), d.mask.i.end());
    const int64_t maskRs = c.mask == MaskKind::kFull ? c.kvLen : 0;
    const int64_t maskBs = c.mask == MaskKind::kFull ? c.qLen * c.kvLen : c.kvLen;
    std::vector<float> out(c.batch * c.qLen * c.heads * c.vd, -9.0f);
    tessel_attention_f32(c.batch, c.qLen, c.kvLen, c.heads, c.kvHeads, c.hd, c.vd, d.q.data(),
                         c.qLen * c.heads * c.hd, c.heads * c.hd, d.k.data(),
                         c.kvLen * c.kvHeads * c.hd, c.kvHeads * c.hd, d.v.data(),
                         c.kvLen * c.kvHeads * c.vd, c.kvHeads * c.vd,
                         c.mask == MaskKind::kNone ? nullptr : mask.data(), maskBs, maskRs,
                         c.sinks ? d.sinks.data() : nullptr, c.causal, c.window, c.scale, c.kvTile,
                         out.data(), c.qLen * c.heads * c.vd, c.heads * c.vd);
    expectAttention(want, out, d.v, c.name);

    // Strided: Q inside a fused QKV-like row, K/V inside a KV cache of
    // kvLen + 7 rows per batch, out rows padded; one and two threads.
    const int64_t qRs = c.heads * c.hd + 11, kRs = c.kvHeads * c.hd + 3, vRs = c.kvHeads * c.vd + 5,
                  oRs = c.heads * c.vd + 2, cache = c.kvLen + 7;
    std::vector<float> q(c.batch * c.qLen * qRs, NAN), k(c.batch * cache * kRs, NAN),
        v(c.batch * cache * vRs, NAN);
    for (int64_t b = 0; b < c.batch; ++b) {
      for (int64_t i = 0; i < c.qLen; ++i)
        std::copy_n(&d.q[(b * c.qLen + i) * c.heads * c.hd], c.heads * c.hd,
                    &q[(b * c.qLen + i) * qRs]);
      for (int64_t j = 0; j < c.kvLen; ++j) {
        std::copy_n(&d.k[(b * c.kvLen + j) * c.kvHeads * c.hd], c.kvHeads * c.hd,
                    &k[(b * cache + j) * kRs]);
        std::copy_n(&d.v[(b * c.kvLen + j) * c.kvHeads * c.vd], c.kvHeads * c.vd,
                    &v[(b * cache + j) * vRs]);
      }
    }
    for (ThreadPool *pool : {&pool1, &pool2}) {
      AttentionArgs a;
      a.batch = c.batch, a.qLen = c.qLen, a.kvLen = c.kvLen, a.numHeads = c.heads;
      a.numKvHeads = c.kvHeads, a.headDim = c.hd, a.vHeadDim = c.vd;
      a.q = q.data(), a.qBatchStride = c.qLen * qRs, a.qRowStride = qRs;
      a.k = k.data(), a.kBatchStride = cache * kRs, a.kRowStride = kRs;
      a.v = v.data(), a.vBatchStride = cache * vRs, a.vRowStride = vRs;
      a.mask = c.mask == MaskKind::kNone ? nullptr : mask.data();
      a.maskBatchStride = maskBs, a.maskRowStride = maskRs;
      a.sinks = c.sinks ? d.sinks.data() : nullptr, a.causal = c.causal, a.window = c.window;
      a.scale = c.scale, a.kvTile = c.kvTile;
      std::vector<float> o(c.batch * c.qLen * oRs, -9.0f);
      a.out = o.data(), a.outBatchStride = c.qLen * oRs, a.outRowStride = oRs;
      attention(a, pool);
      std::vector<float> packedOut(out.size());
      for (int64_t r = 0; r < c.batch * c.qLen; ++r) {
        std::copy_n(&o[r * oRs], c.heads * c.vd, &packedOut[r * c.heads * c.vd]);
        ASSERT_EQ(o[r * oRs + c.heads * c.vd], -9.0f) << c.name << ": wrote past a row";
      }
      expectAttention(want, packedOut, d.v,
                      std::string(c.name) + " strided, threads " +
                          std::to_string(pool->numThreads()));
    }
  }
}

// The primitives by hand: the KV range of one GQA group cut into three
// splits of uneven tiles, each split run with init + tiles, then combined;
// and one split finalized directly.
TEST_P(KernelTest, FlashTileSplitsAndCombineMatchReference) {
  Rng rng(12);
  const AttnCase c{"tiles", 1, 7, 150, 2, 1, 24, 10, true, 60, MaskKind::kPadding, false, 0, 0.0f};
  const AttnData d = makeAttnData(c, rng);
  const std::vector<float> want = referenceAttention(c, d);
  const int64_t rows = c.qLen * c.heads; // row r = (i, h), both heads share KV head 0
  std::vector<float> q(rows * c.hd);
  std::vector<int64_t> pos(rows);
  std::vector<uint8_t> mask(rows * c.kvLen);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = r / c.heads, h = r % c.heads;
    std::copy_n(&d.q[(i * c.heads + h) * c.hd], c.hd, &q[r * c.hd]);
    pos[r] = i + c.kvLen - c.qLen;
    for (int64_t j = 0; j < c.kvLen; ++j)
      mask[r * c.kvLen + j] = d.mask.i[j] != 0;
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.hd));
  const int64_t bounds[] = {0, 41, 97, c.kvLen};
  const int64_t tileSizes[] = {9, 31, 64};
  const int64_t splits = 3;
  std::vector<float> m(splits * rows), l(splits * rows), acc(splits * rows * c.vd);
  for (int64_t s = 0; s < splits; ++s) {
    float *ms = &m[s * rows], *ls = &l[s * rows], *as = &acc[s * rows * c.vd];
    tessel_flash_init_f32(rows, c.vd, ms, ls, as, c.vd);
    for (int64_t j = bounds[s]; j < bounds[s + 1]; j += tileSizes[s]) {
      const int64_t keys = std::min(tileSizes[s], bounds[s + 1] - j);
      tessel_flash_tile_f32(rows, keys, c.hd, c.vd, q.data(), c.hd, &d.k[j * c.hd], c.hd,
                            &d.v[j * c.vd], c.vd, scale, pos.data(), j, c.causal, c.window,
                            &mask[j], c.kvLen, ms, ls, as, c.vd);
    }
  }
  std::vector<float> out(rows * c.vd);
  tessel_flash_combine_f32(splits, rows, c.vd, m.data(), l.data(), acc.data(), out.data(), c.vd);
  expectAttention(want, out, d.v, "three splits combined");

  // One split over everything, finalized.
  std::vector<float> m1(rows), l1(rows), acc1(rows * (c.vd + 3));
  tessel_flash_init_f32(rows, c.vd, m1.data(), l1.data(), acc1.data(), c.vd + 3);
  for (int64_t j = 0; j < c.kvLen; j += 37) {
    const int64_t keys = std::min<int64_t>(37, c.kvLen - j);
    tessel_flash_tile_f32(rows, keys, c.hd, c.vd, q.data(), c.hd, &d.k[j * c.hd], c.hd,
                          &d.v[j * c.vd], c.vd, scale, pos.data(), j, c.causal, c.window, &mask[j],
                          c.kvLen, m1.data(), l1.data(), acc1.data(), c.vd + 3);
  }
  std::vector<float> out1(rows * c.vd);
  tessel_flash_finalize_f32(rows, c.vd, l1.data(), acc1.data(), c.vd + 3, out1.data(), c.vd);
  expectAttention(want, out1, d.v, "one split finalized");

  // A split that saw no key contributes nothing; all-empty rows give zeros.
  std::vector<float> m2(2 * rows), l2(2 * rows), acc2(2 * rows * c.vd);
  std::copy_n(m1.data(), rows, m2.data());
  std::copy_n(l1.data(), rows, l2.data());
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(&acc1[r * (c.vd + 3)], c.vd, &acc2[r * c.vd]);
  tessel_flash_init_f32(rows, c.vd, &m2[rows], &l2[rows], &acc2[rows * c.vd], c.vd);
  std::vector<float> out2(rows * c.vd);
  tessel_flash_combine_f32(2, rows, c.vd, m2.data(), l2.data(), acc2.data(), out2.data(), c.vd);
  expectAttention(want, out2, d.v, "combine with an empty split");
  tessel_flash_combine_f32(1, rows, c.vd, &m2[rows], &l2[rows], &acc2[rows * c.vd], out2.data(),
                           c.vd);
  for (float x : out2)
    ASSERT_EQ(x, 0.0f);
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//
// tessel_moe_f32 against ref::moe. Tolerance: per output element,
// 1e-5 * M, M a bound on the magnitude of the terms that f32 rounding
// scales: for one FFN and token, with u, g the up and gate sums, U, G the
// sums of |x_p w_p| behind them and h the hidden activation,
//   H_f = 1.2 G_f |u_f| + |act(g_f)| U_f + |h_f|   (gated; the gated GEMM's
//         bound, |act'| <= 1.2), or 1.2 U_f + |h_f| (plain),
//   M_ffn[d] = sum_f (|h_f| + H_f) |down[d, f]|    (the down projection's
//         sum of |terms| plus the hidden rounding carried through it);
// and M = routed_scale * W * max_e M_e + M_shared, where W bounds the sum of
// the routing weights (1 for softmax or normalised, top_k for raw sigmoid).
// The bound holds whichever experts a token picks, so the test does not
// need to repeat the routing. Routing itself must agree exactly: the test
// data has no near-ties (fixed seeds), and the tie tests build logits that
// every summation order computes exactly.
//===----------------------------------------------------------------------===//

struct MoeCase {
  const char *name;
  int64_t tokens, dim, hidden, experts, topK;
  int scoring;
  bool normalize;
  float routedScale;
  int activation;
  bool tanhApprox;
  int64_t sharedHidden;
  int64_t xPad = 0, outPad = 0; // row strides dim + pad
};

bool moeGated(int activation) {
  return activation == TESSEL_MOE_SWIGLU || activation == TESSEL_MOE_GEGLU;
}

ref::Activation refActivation(int activation) {
  switch (activation) {
  case TESSEL_MOE_RELU:
    return ref::Activation::Relu;
  case TESSEL_MOE_GELU:
    return ref::Activation::Gelu;
  case TESSEL_MOE_SILU:
    return ref::Activation::Silu;
  case TESSEL_MOE_GEGLU:
    return ref::Activation::GeGLU;
  default:
    return ref::Activation::SwiGLU;
  }
}

// The scalar activation in f64 (the gate's, for gated kinds).
double moeAct(int activation, bool tanhApprox, double x) {
  switch (activation) {
  case TESSEL_MOE_RELU:
    return x > 0 ? x : 0.0;
  case TESSEL_MOE_SILU:
  case TESSEL_MOE_SWIGLU:
    return x / (1.0 + std::exp(-x));
  default:
    if (tanhApprox)
      return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  }
}

struct MoeData {
  std::vector<float> x, router, up, gate, down, sUp, sGate, sDown;
};

MoeData makeMoeData(const MoeCase &c, Rng &rng) {
  MoeData d;
  const int64_t eSize = c.experts * c.hidden * c.dim, sSize = c.sharedHidden * c.dim;
  d.x.resize(c.tokens * c.dim);
  d.router.resize(c.experts * c.dim);
  d.up.resize(eSize);
  d.down.resize(eSize);
  rng.fill(d.x);
  rng.fill(d.router);
  rng.fill(d.up, -0.5f, 0.5f);
  rng.fill(d.down, -0.5f, 0.5f);
  if (moeGated(c.activation)) {
    d.gate.resize(eSize);
    rng.fill(d.gate, -0.5f, 0.5f);
  }
  if (c.sharedHidden) {
    d.sUp.resize(sSize);
    d.sDown.resize(sSize);
    rng.fill(d.sUp, -0.5f, 0.5f);
    rng.fill(d.sDown, -0.5f, 0.5f);
    if (moeGated(c.activation)) {
      d.sGate.resize(sSize);
      rng.fill(d.sGate, -0.5f, 0.5f);
    }
  }
  return d;
}

std::vector<float> referenceMoe(const MoeCase &c, const MoeData &d) {
  const bool gated = moeGated(c.activation);
  Tensor x = tensorOf({c.tokens, c.dim}, d.x), router = tensorOf({c.experts, c.dim}, d.router);
  Tensor up = tensorOf({c.experts, c.hidden, c.dim}, d.up);
  Tensor down = tensorOf({c.experts, c.dim, c.hidden}, d.down);
  Tensor gate = gated ? tensorOf({c.experts, c.hidden, c.dim}, d.gate) : Tensor();
  ref::FfnWeights experts{&up, gated ? &gate : nullptr, &down};
  Tensor sUp, sGate, sDown;
  ref::FfnWeights shared;
  if (c.sharedHidden) {
    sUp = tensorOf({c.sharedHidden, c.dim}, d.sUp);
    sDown = tensorOf({c.dim, c.sharedHidden}, d.sDown);
    if (gated)
      sGate = tensorOf({c.sharedHidden, c.dim}, d.sGate);
    shared = {&sUp, gated ? &sGate : nullptr, &sDown};
  }
  ref::MoeParams p;
  p.topK = c.topK;
  p.scoring = c.scoring == TESSEL_MOE_SIGMOID ? ref::MoeScoring::Sigmoid : ref::MoeScoring::Softmax;
  p.normalizeTopK = c.normalize;
  p.routedScale = c.routedScale;
  p.ffn.activation = refActivation(c.activation);
  p.ffn.tanhApprox = c.tanhApprox;
  return unwrap(ref::moe(x, router, experts, c.sharedHidden ? &shared : nullptr, p)).f;
}

// M_ffn (see the section comment) of one token through one FFN, into mag.
void ffnMagnitude(const MoeCase &c, const float *x, int64_t hidden, const float *up,
                  const float *gate, const float *down, std::vector<double> &mag) {
  std::vector<double> h(hidden), hm(hidden);
  for (int64_t f = 0; f < hidden; ++f) {
    double u = 0, U = 0, g = 0, G = 0;
    for (int64_t p = 0; p < c.dim; ++p) {
      u += double(x[p]) * up[f * c.dim + p];
      U += std::abs(double(x[p]) * up[f * c.dim + p]);
      if (gate) {
        g += double(x[p]) * gate[f * c.dim + p];
        G += std::abs(double(x[p]) * gate[f * c.dim + p]);
      }
    }
    if (gate) {
      const double a = moeAct(c.activation, c.tanhApprox, g);
      h[f] = a * u;
      hm[f] = 1.2 * G * std::abs(u) + std::abs(a) * U + std::abs(h[f]);
    } else {
      h[f] = moeAct(c.activation, c.tanhApprox, u);
      hm[f] = 1.2 * U + std::abs(h[f]);
    }
  }
  mag.assign(c.dim, 0.0);
  for (int64_t d = 0; d < c.dim; ++d)
    for (int64_t f = 0; f < hidden; ++f)
      mag[d] += (std::abs(h[f]) + hm[f]) * std::abs(down[d * hidden + f]);
}

std::vector<double> moeMagnitude(const MoeCase &c, const MoeData &d) {
  const double w =
      c.routedScale * (c.normalize || c.scoring == TESSEL_MOE_SOFTMAX ? 1.0 : double(c.topK));
  const int64_t eSize = c.hidden * c.dim;
  std::vector<double> out(c.tokens * c.dim), mag;
  for (int64_t t = 0; t < c.tokens; ++t) {
    const float *xt = &d.x[t * c.dim];
    double *o = &out[t * c.dim];
    for (int64_t e = 0; e < c.experts; ++e) {
      ffnMagnitude(c, xt, c.hidden, &d.up[e * eSize], d.gate.empty() ? nullptr : &d.gate[e * eSize],
                   &d.down[e * eSize], mag);
      for (int64_t i = 0; i < c.dim; ++i)
        o[i] = std::max(o[i], w * mag[i]);
    }
    if (c.sharedHidden) {
      ffnMagnitude(c, xt, c.sharedHidden, d.sUp.data(), d.sGate.empty() ? nullptr : d.sGate.data(),
                   d.sDown.data(), mag);
      for (int64_t i = 0; i < c.dim; ++i)
        o[i] += mag[i];
    }
  }
  return out;
}

// Runs the kernel on strided copies of x and out (padding filled with a
// marker that must survive) and returns out packed [tokens, dim]. `pool`
// null calls the C entry point (the global pool) instead of moe(args, pool).
std::vector<float> runMoe(const MoeCase &c, const MoeData &d, ThreadPool *pool) {
  const int64_t ldx = c.dim + c.xPad, ldo = c.dim + c.outPad;
  std::vector<float> x(std::max<int64_t>(c.tokens * ldx, 1), NAN);
  for (int64_t t = 0; t < c.tokens; ++t)
    std::copy_n(&d.x[t * c.dim], c.dim, &x[t * ldx]);
  std::vector<float> out(std::max<int64_t>(c.tokens * ldo, 1), -9.0f);
  MoeArgs a;
  a.tokens = c.tokens, a.dim = c.dim, a.hidden = c.hidden, a.numExperts = c.experts;
  a.topK = c.topK, a.x = x.data(), a.ldx = ldx, a.router = d.router.data();
  a.wUp = d.up.data(), a.wGate = d.gate.empty() ? nullptr : d.gate.data(), a.wDown = d.down.data();
  a.scoring = c.scoring, a.normalizeTopK = c.normalize, a.routedScale = c.routedScale;
  a.activation = c.activation, a.tanhApprox = c.tanhApprox;
  a.sharedUp = d.sUp.empty() ? nullptr : d.sUp.data();
  a.sharedGate = d.sGate.empty() ? nullptr : d.sGate.data();
  a.sharedDown = d.sDown.empty() ? nullptr : d.sDown.data();
  a.sharedHidden = c.sharedHidden, a.out = out.data(), a.ldo = ldo;
  if (pool) {
    moe(a, pool);
  } else {
    auto f32 = [](const void *p) { return static_cast<const float *>(p); };
    tessel_moe_f32(a.tokens, a.dim, a.hidden, a.numExperts, a.topK, a.x, a.ldx, a.router,
                   f32(a.wUp), f32(a.wGate), f32(a.wDown), a.scoring, a.normalizeTopK,
                   a.routedScale, a.activation, a.tanhApprox, f32(a.sharedUp), f32(a.sharedGate),
                   f32(a.sharedDown), a.sharedHidden, a.out, a.ldo);
  }
  std::vector<float> packed(c.tokens * c.dim);
  for (int64_t t = 0; t < c.tokens; ++t) {
    std::copy_n(&out[t * ldo], c.dim, &packed[t * c.dim]);
    for (int64_t i = c.dim; i < ldo; ++i)
      EXPECT_EQ(out[t * ldo + i], -9.0f) << c.name << ": wrote past row " << t;
  }
  return packed;
}

void expectMoe(const MoeCase &c, const std::vector<float> &want, const std::vector<double> &mag,
               const std::vector<float> &got, const std::string &what) {
  int failures = 0;
  for (size_t i = 0; i < want.size() && failures < 5; ++i) {
    const double tol = 1e-5 * mag[i];
    if (!(std::abs(double(got[i]) - want[i]) <= tol)) {
      ADD_FAILURE() << what << ": token " << i / c.dim << " feature " << i % c.dim << " got "
                    << got[i] << " want " << want[i] << " (tolerance " << tol << ")";
      ++failures;
    }
  }
}

// Softmax and sigmoid routing, top_k from 1 to E, with and without
// normalisation and routed scale, every activation (GELU in both forms),
// shared experts gated and not, 1..70 tokens (and 800, which cuts each
// expert's group and the shared experts' rows into 384-row blocks),
// strided x and out. Threads 1 and 2 must agree bit for bit; the C entry
// point (global pool) must too.
TEST_P(KernelTest, MoeMatchesReference) {
  std::vector<MoeCase> cases = {
      {"decode_swiglu", 1, 32, 48, 8, 2, TESSEL_MOE_SOFTMAX, true, 1.0f, TESSEL_MOE_SWIGLU, false,
       0},
      {"mixtral", 7, 64, 96, 4, 2, TESSEL_MOE_SOFTMAX, true, 1.0f, TESSEL_MOE_SWIGLU, false, 0, 3,
       5},
      {"deepseek2_shared", 70, 48, 32, 6, 2, TESSEL_MOE_SOFTMAX, false, 1.0f, TESSEL_MOE_SWIGLU,
       false, 40, 0, 1},
      {"deepseek3_sigmoid", 33, 40, 24, 8, 3, TESSEL_MOE_SIGMOID, true, 2.5f, TESSEL_MOE_SWIGLU,
       false, 24},
      {"sigmoid_raw", 5, 24, 40, 5, 2, TESSEL_MOE_SIGMOID, false, 1.0f, TESSEL_MOE_SWIGLU, false,
       0},
      {"geglu_tanh", 9, 32, 20, 4, 2, TESSEL_MOE_GEGLU, true, 0.5f, TESSEL_MOE_GEGLU, true, 12},
      {"geglu_erf", 4, 16, 17, 3, 1, TESSEL_MOE_SOFTMAX, false, 1.0f, TESSEL_MOE_GEGLU, false, 0},
      {"relu", 12, 20, 33, 4, 2, TESSEL_MOE_SOFTMAX, false, 1.0f, TESSEL_MOE_RELU, false, 0, 2},
      {"gelu_shared", 6, 18, 30, 3, 2, TESSEL_MOE_SIGMOID, true, 1.0f, TESSEL_MOE_GELU, false, 9},
      {"gelu_tanh", 3, 24, 16, 4, 3, TESSEL_MOE_SOFTMAX, true, 1.0f, TESSEL_MOE_GELU, true, 0},
      {"silu_shared", 2, 16, 24, 4, 1, TESSEL_MOE_SOFTMAX, false, 1.0f, TESSEL_MOE_SILU, false, 8},
      {"prefill_blocks", 800, 16, 24, 2, 2, TESSEL_MOE_SOFTMAX, true, 1.0f, TESSEL_MOE_SWIGLU,
       false, 8},
      {"no_tokens", 0, 16, 8, 4, 2, TESSEL_MOE_SOFTMAX, true, 1.0f, TESSEL_MOE_SWIGLU, false, 8},
  };
  // top_k from 1 to E, both scorings, normalised or not.
  for (int64_t k = 1; k <= 5; ++k)
    for (int scoring : {TESSEL_MOE_SOFTMAX, TESSEL_MOE_SIGMOID})
      for (bool normalize : {false, true})
        cases.push_back({"top_k_sweep", 11, 24, 16, 5, k, scoring, normalize, 1.5f,
                         TESSEL_MOE_SWIGLU, false, 0});
  ThreadPool pool1(1), pool2(2);
  Rng rng(31);
  for (const MoeCase &c : cases) {
    const MoeData d = makeMoeData(c, rng);
    const std::vector<float> want = referenceMoe(c, d);
    const std::vector<double> mag = moeMagnitude(c, d);
    const std::string what = std::string(c.name) + " top_k " + std::to_string(c.topK) +
                             (c.scoring == TESSEL_MOE_SIGMOID ? " sigmoid" : " softmax") +
                             (c.normalize ? " normalized" : "");
    const std::vector<float> one = runMoe(c, d, &pool1);
    expectMoe(c, want, mag, one, what);
    EXPECT_EQ(runMoe(c, d, &pool2), one) << what << ": 2 threads differ from 1";
    EXPECT_EQ(runMoe(c, d, nullptr), one) << what << ": the C entry point differs";
  }
}

// Experts stored as q8_0, q4_0 and bf16 (tessel_moe_stored_f32, which reads
// their bytes with the stored-weight GEMV / GEMM): the reference on the
// dequantized values (frontends' dequantizeRow, the formats' ground truth),
// with the tolerance above (the stored kernels' dot products promise the
// f32 GEMM's 1e-5 of sum |terms|). Gated experts take gate and up as two
// products here, non-gated ones one; the shared experts stored too, or kept
// f32 beside stored experts. Threads 1 and 2 and the C entry point agree
// bit for bit; a decoding token reads the stored sizes of exactly the
// router, its top_k experts and the shared experts.
TEST_P(KernelTest, MoeReadsStoredExperts) {
  using frontends::WeightType;
  const std::vector<MoeCase> cases = {
      {"decode_swiglu_shared", 1, 64, 96, 8, 2, TESSEL_MOE_SOFTMAX, true, 1.0f, TESSEL_MOE_SWIGLU,
       false, 32},
      {"prefill_swiglu", 40, 64, 32, 4, 2, TESSEL_MOE_SOFTMAX, true, 1.0f, TESSEL_MOE_SWIGLU, false,
       0, 3, 5},
      {"deepseek2_raw", 9, 32, 64, 6, 3, TESSEL_MOE_SOFTMAX, false, 1.0f, TESSEL_MOE_SWIGLU, false,
       64},
      {"geglu_sigmoid", 5, 32, 32, 4, 2, TESSEL_MOE_SIGMOID, true, 2.0f, TESSEL_MOE_GEGLU, true,
       32},
      {"relu_shared", 6, 32, 64, 3, 2, TESSEL_MOE_SOFTMAX, false, 1.0f, TESSEL_MOE_RELU, false, 32},
      {"silu", 3, 64, 32, 4, 1, TESSEL_MOE_SOFTMAX, false, 1.0f, TESSEL_MOE_SILU, false, 0},
  };
  // v (rows of k values) stored as `type`, and back: the values the
  // kernel must compute with.
  auto store = [](WeightType type, std::vector<float> &v) {
    std::vector<uint8_t> bytes(frontends::storageBytes(type, v.size()).value());
    if (v.empty())
      return bytes;
    frontends::quantizeRow(type, v.data(), bytes.data(), static_cast<int64_t>(v.size()));
    frontends::dequantizeRow(type, bytes.data(), v.data(), static_cast<int64_t>(v.size()));
    return bytes;
  };
  ThreadPool pool1(1), pool2(2);
  Rng rng(37);
  for (WeightType type : {WeightType::Q8_0, WeightType::Q4_0, WeightType::BF16})
    for (bool sharedStored : {true, false})
      for (const MoeCase &c : cases) {
        if (!sharedStored && c.sharedHidden == 0)
          continue;
        MoeData d = makeMoeData(c, rng);
        const std::vector<uint8_t> up = store(type, d.up), gate = store(type, d.gate),
                                   down = store(type, d.down);
        std::vector<uint8_t> sUp, sGate, sDown;
        if (sharedStored)
          sUp = store(type, d.sUp), sGate = store(type, d.sGate), sDown = store(type, d.sDown);
        const std::vector<float> want = referenceMoe(c, d);
        const std::string what = std::string(c.name) + " " + frontends::weightTypeInfo(type).name +
                                 (sharedStored ? "" : ", shared experts f32");
        const int64_t ldx = c.dim + c.xPad, ldo = c.dim + c.outPad;
        std::vector<float> x(c.tokens * ldx, NAN);
        for (int64_t t = 0; t < c.tokens; ++t)
          std::copy_n(&d.x[t * c.dim], c.dim, &x[t * ldx]);
        auto orNull = [](const auto &v) -> const void * { return v.empty() ? nullptr : v.data(); };
        MoeArgs a;
        a.tokens = c.tokens, a.dim = c.dim, a.hidden = c.hidden, a.numExperts = c.experts;
        a.topK = c.topK, a.x = x.data(), a.ldx = ldx, a.router = d.router.data();
        a.weightType = static_cast<int>(type);
        a.wUp = up.data(), a.wGate = orNull(gate), a.wDown = down.data();
        a.scoring = c.scoring, a.normalizeTopK = c.normalize, a.routedScale = c.routedScale;
        a.activation = c.activation, a.tanhApprox = c.tanhApprox;
        a.sharedWeightType = sharedStored ? static_cast<int>(type) : TESSEL_WEIGHT_F32;
        a.sharedUp = sharedStored ? orNull(sUp) : orNull(d.sUp);
        a.sharedGate = sharedStored ? orNull(sGate) : orNull(d.sGate);
        a.sharedDown = sharedStored ? orNull(sDown) : orNull(d.sDown);
        a.sharedHidden = c.sharedHidden;
        auto run = [&](ThreadPool *pool) {
          std::vector<float> out(c.tokens * ldo, -9.0f);
          a.out = out.data(), a.ldo = ldo;
          if (pool)
            moe(a, pool);
          else
            tessel_moe_stored_f32(a.tokens, a.dim, a.hidden, a.numExperts, a.topK, a.x, a.ldx,
                                  a.router, a.weightType, a.wUp, a.wGate, a.wDown, a.scoring,
                                  a.normalizeTopK, a.routedScale, a.activation, a.tanhApprox,
                                  a.sharedWeightType, a.sharedUp, a.sharedGate, a.sharedDown,
                                  a.sharedHidden, a.out, a.ldo, /*q8_inputs=*/0);
          std::vector<float> packed(c.tokens * c.dim);
          for (int64_t t = 0; t < c.tokens; ++t) {
            std::copy_n(&out[t * ldo], c.dim, &packed[t * c.dim]);
            for (int64_t i = c.dim; i < ldo; ++i)
              EXPECT_EQ(out[t * ldo + i], -9.0f) << what << ": wrote past row " << t;
          }
          return packed;
        };
        tessel_moe_reset_bytes_read();
        const std::vector<float> one = run(&pool1);
        const int64_t bytesRead = tessel_moe_bytes_read();
        expectMoe(c, want, moeMagnitude(c, d), one, what);
        EXPECT_EQ(run(&pool2), one) << what << ": 2 threads differ from 1";
        EXPECT_EQ(run(nullptr), one) << what << ": the C entry point differs";
        if (c.tokens == 1) {
          const int64_t matrices = moeGated(c.activation) ? 3 : 2;
          const int64_t expertBytes = (up.size() + gate.size() + down.size()) / c.experts;
          const int64_t sharedBytes = sharedStored ? sUp.size() + sGate.size() + sDown.size()
                                                   : matrices * c.sharedHidden * c.dim * 4;
          EXPECT_EQ(bytesRead, c.experts * c.dim * 4 + c.topK * expertBytes + sharedBytes) << what;
        }
      }
}

// Ties go to the lower expert index, as a stable sort orders them (the
// reference's rule): softmax scores that are equal, and sigmoid scores that
// saturate to exactly 1 in f64 for logits 40 and 48, where ranking the
// logits would pick the other expert. x and the router hold small
// integers, so every summation order computes the logits exactly; each
// expert's weights differ, so a wrong pick shows.
TEST_P(KernelTest, MoeBreaksTiesTowardsTheLowerExpert) {
  MoeCase c{"ties", 3, 16, 8, 4, 2, TESSEL_MOE_SOFTMAX, false, 1.0f, TESSEL_MOE_SWIGLU, false, 0};
  Rng rng(32);
  MoeData d = makeMoeData(c, rng);
  // Token 0: logits (1, 0.5, 0.5, 0.25) -> experts 0 and 1 (not 2). Token
  // 1 is token 0 negated: (-1, -0.5, -0.5, -0.25) -> 3 and 1. Token 2: all
  // equal -> 0 and 1. (Logits this close keep the second pick's weight
  // large, so picking 2 instead of 1 shows.)
  const float rows[4] = {1.0f / 16, 1.0f / 32, 1.0f / 32, 1.0f / 64};
  for (int64_t e = 0; e < 4; ++e)
    std::fill_n(&d.router[e * c.dim], c.dim, rows[e]);
  for (int64_t p = 0; p < c.dim; ++p) {
    d.x[p] = 1.0f;
    d.x[c.dim + p] = -1.0f;
    d.x[2 * c.dim + p] = 0.0f;
  }
  ThreadPool pool1(1);
  auto check = [&](const std::string &what) {
    expectMoe(c, referenceMoe(c, d), moeMagnitude(c, d), runMoe(c, d, &pool1), what);
  };
  check("softmax ties");
  c.normalize = true;
  check("softmax ties, normalised");

  // Sigmoid: logits (40, 48, 8, 4): both 1.0 in f64 -> expert 0 with top_k 1.
  c.scoring = TESSEL_MOE_SIGMOID, c.topK = 1, c.normalize = false;
  const float saturated[4] = {2.5f, 3.0f, 0.5f, 0.25f};
  for (int64_t e = 0; e < 4; ++e)
    std::fill_n(&d.router[e * c.dim], c.dim, saturated[e]);
  check("saturated sigmoid");
  // The same check against a hand-computed answer: expert 0 alone, weight 1.
  MoeCase only0 = c;
  only0.experts = 1;
  std::vector<float> got = runMoe(c, d, &pool1);
  MoeData d0 = d;
  d0.router.resize(c.dim);
  d0.up.resize(c.hidden * c.dim);
  d0.gate.resize(c.hidden * c.dim);
  d0.down.resize(c.hidden * c.dim);
  const std::vector<float> want0 = referenceMoe(only0, d0);
  for (int64_t i = 0; i < c.dim; ++i) // token 0 only: its sigmoid weight is exactly 1
    EXPECT_NEAR(got[i], want0[i], 1e-5 * moeMagnitude(only0, d0)[i]) << "feature " << i;
}

// Decode touches only the experts it picked: the weights of every other
// expert sit on pages made unreadable (PROT_NONE), so a stray read faults
// (the test crashes); and the byte counter says exactly router + top_k
// experts + shared experts. A second call with two tokens whose picks
// overlap reads each picked expert once.
TEST_P(KernelTest, MoeDecodeReadsOnlyTheSelectedExperts) {
  const int64_t page = sysconf(_SC_PAGESIZE);
  const int64_t dim = 32, hidden = page / (dim * 4); // one page per expert matrix
  MoeCase c{"decode",          1,     dim, hidden, 8, 2, TESSEL_MOE_SOFTMAX, true, 1.0f,
            TESSEL_MOE_SWIGLU, false, 16};
  Rng rng(33);
  MoeData d = makeMoeData(c, rng);
  // Routing by construction: router row e is +x_t for the experts token t
  // picks and -x_t for the others, summed over the (one or two) tokens.
  // Token t's logits are then +-|x_t|^2 +- x_0.x_1, and |x_t|^2 (~dim/3)
  // dominates, so the picks are certain.
  std::vector<float> x2(2 * dim);
  rng.fill(x2);
  d.x.assign(x2.begin(), x2.begin() + dim);
  auto routeTo = [&](const std::vector<int64_t> &picked0, const std::vector<int64_t> &picked1) {
    for (int64_t e = 0; e < c.experts; ++e)
      for (int64_t p = 0; p < dim; ++p) {
        const bool in0 = std::count(picked0.begin(), picked0.end(), e) > 0;
        const bool in1 = std::count(picked1.begin(), picked1.end(), e) > 0;
        d.router[e * dim + p] = (in0 ? x2[p] : -x2[p]) + (in1 ? x2[dim + p] : -x2[dim + p]);
      }
  };

  // The experts' matrices on pages of their own, so that each can be
  // protected on its own.
  const int64_t matrixBytes = hidden * dim * 4, eBytes = c.experts * matrixBytes;
  float *pages[3];
  for (float *&p : pages) {
    void *m = mmap(nullptr, eBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(m, MAP_FAILED);
    p = static_cast<float *>(m);
  }
  float *up = pages[0], *gate = pages[1], *down = pages[2];
  std::copy(d.up.begin(), d.up.end(), up);
  std::copy(d.gate.begin(), d.gate.end(), gate);
  std::copy(d.down.begin(), d.down.end(), down);
  auto protectAllBut = [&](const std::vector<int64_t> &keep) {
    for (float *base : pages)
      for (int64_t e = 0; e < c.experts; ++e) {
        const bool readable = std::count(keep.begin(), keep.end(), e) > 0;
        ASSERT_EQ(mprotect(reinterpret_cast<char *>(base) + e * matrixBytes, matrixBytes,
                           readable ? PROT_READ : PROT_NONE),
                  0);
      }
  };
  auto run = [&](int64_t tokens) {
    std::vector<float> out(tokens * dim);
    tessel_moe_reset_bytes_read();
    tessel_moe_f32(tokens, dim, hidden, c.experts, c.topK, d.x.data(), dim, d.router.data(), up,
                   gate, down, c.scoring, c.normalize, c.routedScale, c.activation, c.tanhApprox,
                   d.sUp.data(), d.sGate.data(), d.sDown.data(), c.sharedHidden, out.data(), dim);
    return out;
  };
  const int64_t routerBytes = c.experts * dim * 4, expertBytes = 3 * matrixBytes;
  const int64_t sharedBytes = 3 * c.sharedHidden * dim * 4;

  // One token, experts 2 and 5.
  routeTo({2, 5}, {});
  std::vector<float> want = referenceMoe(c, d);
  protectAllBut({2, 5});
  std::vector<float> got = run(1);
  expectMoe(c, want, moeMagnitude(c, d), got, "decode");
  EXPECT_EQ(tessel_moe_bytes_read(), routerBytes + 2 * expertBytes + sharedBytes);

  // Two tokens: token 0 picks {2, 5}, token 1 picks {2, 6}.
  c.tokens = 2;
  d.x = x2;
  routeTo({2, 5}, {2, 6});
  want = referenceMoe(c, d);
  protectAllBut({2, 5, 6});
  got = run(2);
  expectMoe(c, want, moeMagnitude(c, d), got, "two tokens");
  EXPECT_EQ(tessel_moe_bytes_read(), routerBytes + 3 * expertBytes + sharedBytes);

  for (float *p : pages)
    munmap(p, eBytes);
}

} // namespace
} // namespace tessel::kernels
