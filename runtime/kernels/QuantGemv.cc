//===- QuantGemv.cc - GEMV / GEMM on bf16, q8_0, q4_0 weights: policy -----===//
//
// Weights kept in their GGUF block formats and dequantized inside the
// kernels (issue 6): decode then streams 1.06 (q8_0), 0.56 (q4_0) or 2
// (bf16) bytes per weight instead of f32's 4. This file holds the policy
// (argument checks, thread splits, scratch); the per-target code is
// quant-inl.h, compiled once per Highway target through foreach_target.h
// and called through HWY_DYNAMIC_DISPATCH.
//
//===----------------------------------------------------------------------===//

// AVX3_DL (Ice Lake, Zen 4: AVX512-VNNI and VBMI) is compiled here on top
// of Highway's default targets, for q8act-inl.h's integer kernels.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL 1
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/QuantGemv.cc"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "runtime/kernels/bf16act-inl.h"
#include "runtime/kernels/q8act-inl.h"
#include "runtime/kernels/quant-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {

void QuantGemvRows(const QuantArgs &q, int64_t row0, int64_t row1) {
  quant::QuantGemvRowsImpl(q, row0, row1);
}

void QuantGemmRegion(const QuantArgs &q, float *buf, int64_t row0, int64_t row1, int64_t col0,
                     int64_t col1) {
  quant::QuantGemmRegionImpl(q, buf, row0, row1, col0, col1);
}

void DequantRow(QuantFormat format, const uint8_t *row, int64_t k, float *dst) {
  quant::DequantSpan(format, row, 0, k, dst);
}

void QuantizeRowQ8(const float *x, int64_t k, bool q4, uint8_t *out) {
  q8act::QuantizeRow(x, k, q4, out);
}

void Q8InputGemmRows(bool q4, int64_t k, const uint8_t *acts, int64_t actStride, int64_t m,
                     const uint8_t *w, int64_t ldw, const float *bias, float *c, int64_t ldc,
                     int64_t row0, int64_t row1) {
  q8act::GemmRows(q4, k, acts, actStride, m, w, ldw, bias, c, ldc, row0, row1);
}

void RoundRowBf16(const float *x, int64_t k, uint16_t *bits, float *values) {
  bf16act::RoundRow(x, k, bits, values);
}

bool Bf16PanelAvailable() { return bf16act::PanelAvailable(); }

void Bf16InputGemmRows(int64_t k, const uint8_t *acts, int64_t actStride, int64_t m,
                       const uint8_t *w, int64_t ldw, const float *bias, float *c, int64_t ldc,
                       int64_t row0, int64_t row1) {
  bf16act::GemmRows(k, acts, actStride, m, w, ldw, bias, c, ldc, row0, row1);
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <new>

#include "runtime/kernels/ThreadPool.h"

namespace tessel::kernels {

HWY_EXPORT(QuantGemvRows);
HWY_EXPORT(QuantGemmRegion);
HWY_EXPORT(DequantRow);
HWY_EXPORT(QuantizeRowQ8);
HWY_EXPORT(Q8InputGemmRows);
HWY_EXPORT(RoundRowBf16);
HWY_EXPORT(Bf16PanelAvailable);
HWY_EXPORT(Bf16InputGemmRows);

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The calling thread's buffer for one dequantized block of the prefill GEMM
// (kQuantNC x kKC floats, 256 KiB), 64-byte aligned. Its own buffer rather
// than a Scratch slot: the f32 GEMM it feeds uses the kPackA / kPackB slots
// at the same time.
float *dequantBuffer() {
  struct Buffer {
    float *data = nullptr;
    ~Buffer() { ::operator delete(data, std::align_val_t(64)); }
  };
  constexpr size_t kBytes = sizeof(float) * kQuantNC * kKC;
  thread_local Buffer buffer;
  if (!buffer.data)
    buffer.data = static_cast<float *>(::operator new(kBytes, std::align_val_t(64)));
  return buffer.data;
}

QuantFormat formatOf(int weightType) {
  switch (weightType) {
  case TESSEL_WEIGHT_Q4_0:
    return QuantFormat::kQ4_0;
  case TESSEL_WEIGHT_BF16:
    return QuantFormat::kBf16;
  default:
    return QuantFormat::kQ8_0;
  }
}

// Splits the rows of W like gemv() splits tessel_gemv_f32's: contiguous
// groups of four rows, task t pinned to thread t so that a core streams
// the same rows call after call. Every row is computed by one thread and by
// the same instructions wherever it falls, so the result does not depend on
// the number of threads.
void runQuantGemv(const QuantArgs &q, ThreadPool *pool) {
  if (q.n <= 0)
    return;
  auto rows = HWY_DYNAMIC_DISPATCH(QuantGemvRows);
  if (q.n * q.k < kParallelMinGemvFloats || !pool || pool->numThreads() <= 1 || q.n < 8)
    return rows(q, 0, q.n);
  const int64_t units = ceilDiv(q.n, 4);
  const int64_t tasks = std::min<int64_t>(pool->numThreads(), units);
  pool->runPinned(tasks, [&](int64_t t) {
    const int64_t u0 = units * t / tasks, u1 = units * (t + 1) / tasks;
    rows(q, u0 * 4, std::min(q.n, u1 * 4));
  });
}

// Up to kSkinnyRows rows of A: one GEMV per row. W is streamed once per
// row, but each pass runs at the GEMV's rate; decoding W into f32 scratch
// for the f32 GEMM's skinny path measured slower up to m = 8 (one thread,
// n = k = 4096, q8_0: m = 2 took 3.6 ms that way, 1.9 ms as two GEMVs).
// Larger m: blocks of W dequantized for the f32 GEMM's packed path, split
// like runGemm (Gemm.cc) splits it: by columns in whole panels when there
// are enough, else by rows in multiples of 24 (each thread then
// dequantizes all of W for its rows); never K.
void runQuantGemm(const QuantArgs &q, ThreadPool *pool) {
  if (q.m <= 0 || q.n <= 0)
    return;
  if (q.m <= kSkinnyRows) {
    for (int64_t i = 0; i < q.m; ++i) {
      QuantArgs row = q;
      row.m = 1, row.a = q.a + i * q.lda, row.c = q.c + i * q.ldc;
      runQuantGemv(row, pool);
    }
    return;
  }
  auto region = HWY_DYNAMIC_DISPATCH(QuantGemmRegion);
  int64_t threads = pool ? pool->numThreads() : 1;
  if (q.m * q.n * std::max<int64_t>(q.k, 1) < kParallelMinFlops)
    threads = 1;
  if (threads <= 1)
    return region(q, dequantBuffer(), 0, q.m, 0, q.n);
  const int64_t units = ceilDiv(q.n, kPanel);
  if (units >= threads) {
    const int64_t tasks = std::min(threads, units);
    pool->runPinned(tasks, [&](int64_t t) {
      const int64_t u0 = units * t / tasks, u1 = units * (t + 1) / tasks;
      region(q, dequantBuffer(), 0, q.m, u0 * kPanel, std::min(q.n, u1 * kPanel));
    });
    return;
  }
  const int64_t rowUnit = 24;
  const int64_t rowUnits = ceilDiv(q.m, rowUnit);
  const int64_t tasks = std::min(threads, rowUnits);
  pool->runPinned(tasks, [&](int64_t t) {
    const int64_t u0 = rowUnits * t / tasks, u1 = rowUnits * (t + 1) / tasks;
    region(q, dequantBuffer(), u0 * rowUnit, std::min(q.m, u1 * rowUnit), 0, q.n);
  });
}

// one(i) for each of the m input rows of a rounded-input call (rounding
// them): on the pool when there are enough rows to share.
template <class F> void forEachInputRow(int64_t m, ThreadPool *pool, const F &one) {
  if (pool && pool->numThreads() > 1 && m >= 16)
    pool->run(m, one);
  else
    for (int64_t i = 0; i < m; ++i)
      one(i);
}

// product(p, row0, row1) for each of the `count` products over their n
// weight rows: all on the calling thread when `serial`, else split between
// the pool's threads in whole units of `unit` rows (a GEMV tile's four, a
// panel's 16), task t pinned to thread t. Every weight row goes to one
// thread, so the result does not depend on the number of threads.
template <class F>
void splitWeightRows(const QuantArgs *products, int count, int64_t n, int64_t unit, bool serial,
                     ThreadPool *pool, const F &product) {
  if (serial || !pool || pool->numThreads() <= 1) {
    for (int i = 0; i < count; ++i)
      product(products[i], 0, n);
    return;
  }
  const int64_t units = ceilDiv(n, unit);
  const int64_t tasks = std::min<int64_t>(pool->numThreads(), units);
  pool->runPinned(tasks, [&](int64_t t) {
    const int64_t u0 = units * t / tasks, u1 = units * (t + 1) / tasks;
    for (int i = 0; i < count; ++i)
      product(products[i], u0 * unit, std::min(n, u1 * unit));
  });
}

// c = q8_0(a) W^T + bias for q8_0 / q4_0 W: the rows of a rounded once
// (q8act-inl.h's Q8Layout), then the rows of W split between the threads,
// every activation row against each group of four weight rows (fewer than
// Q8Panel::kMinActivationRows rows: the GEMV's tiles, so those rows are the
// GEMV's bits) or each panel of 16 (the panel kernel). Each c[i, j] is the
// same for any number of threads.
//
// `products` (1 or 2) share a, m, k and the format, and n: their rows of a
// are rounded once and their weight rows split alike in one hand-off to the
// pool (a gated FFN's up and gate), each c[i, j] as in a call of its own.
void runQ8InputGemms(const QuantArgs *products, int count, ThreadPool *pool) {
  const QuantArgs &q = products[0];
  if (q.m <= 0 || q.n <= 0)
    return;
  const bool q4 = q.format == QuantFormat::kQ4_0;
  const int64_t stride = Q8Layout::rowBytes(q.k);
  // The calling thread's scratch; the pool's workers read it while the
  // caller waits in run().
  auto *acts = scratchOf<uint8_t>(Scratch::kQ8Rows, std::max<int64_t>(q.m * stride, 64));
  auto quantize = HWY_DYNAMIC_DISPATCH(QuantizeRowQ8);
  forEachInputRow(q.m, pool,
                  [&](int64_t i) { quantize(q.a + i * q.lda, q.k, q4, acts + i * stride); });
  auto rows = HWY_DYNAMIC_DISPATCH(Q8InputGemmRows);
  const int64_t unit = q.m >= Q8Panel::kMinActivationRows ? Q8Panel::kRows : 4;
  splitWeightRows(products, count, q.n, unit, q.m * q.n * q.k < kParallelMinGemvFloats || q.n < 8,
                  pool, [&](const QuantArgs &p, int64_t row0, int64_t row1) {
                    rows(q4, q.k, acts, stride, q.m, p.w, p.ldw, p.bias, p.c, p.ldc, row0, row1);
                  });
}

// c = bf16(a) W^T + bias for bf16 W, `count` products as in
// runQ8InputGemms. From kBf16InputPanelMinRows rows on, on CPUs with
// AVX512_BF16 (bf16act-inl.h): the rows of a rounded once to bf16 bits,
// then panels of 16 weight rows split between the threads. Otherwise the
// rows rounded to bf16 values in f32 and the bf16-weight GEMV / GEMM.
void runBf16InputGemms(const QuantArgs *products, int count, ThreadPool *pool) {
  const QuantArgs &q = products[0];
  if (q.m <= 0 || q.n <= 0)
    return;
  auto round = HWY_DYNAMIC_DISPATCH(RoundRowBf16);
  if (q.m < kBf16InputPanelMinRows || !HWY_DYNAMIC_DISPATCH(Bf16PanelAvailable)()) {
    auto *rounded = scratchOf<float>(Scratch::kQ8Rows, std::max<int64_t>(q.m * q.k, 16));
    forEachInputRow(q.m, pool,
                    [&](int64_t i) { round(q.a + i * q.lda, q.k, nullptr, rounded + i * q.k); });
    for (int i = 0; i < count; ++i) {
      QuantArgs p = products[i];
      p.a = rounded, p.lda = q.k;
      runQuantGemm(p, pool);
    }
    return;
  }
  const int64_t stride = Bf16Panel::rowBytes(q.k);
  auto *acts = scratchOf<uint8_t>(Scratch::kQ8Rows, q.m * stride);
  forEachInputRow(q.m, pool, [&](int64_t i) {
    round(q.a + i * q.lda, q.k, reinterpret_cast<uint16_t *>(acts + i * stride), nullptr);
  });
  auto rows = HWY_DYNAMIC_DISPATCH(Bf16InputGemmRows);
  splitWeightRows(products, count, q.n, Bf16Panel::kRows,
                  q.m * q.n * q.k < kParallelMinFlops || q.n < 2 * Bf16Panel::kRows, pool,
                  [&](const QuantArgs &p, int64_t row0, int64_t row1) {
                    rows(q.k, acts, stride, q.m, p.w, p.ldw, p.bias, p.c, p.ldc, row0, row1);
                  });
}

// The products with rounded input rows: to q8_0 for q8_0 / q4_0 weights,
// to bf16 for bf16 ones.
void runRoundedInputGemms(const QuantArgs *products, int count, ThreadPool *pool) {
  if (products[0].format == QuantFormat::kBf16)
    return runBf16InputGemms(products, count, pool);
  runQ8InputGemms(products, count, pool);
}

} // namespace

void gemvQuant(int weightType, int64_t n, int64_t k, const float *x, const void *w,
               int64_t ldwBytes, const float *bias, float *y, ThreadPool *pool, bool roundInput) {
  QuantArgs q;
  q.format = formatOf(weightType);
  q.m = 1, q.n = n, q.k = k, q.a = x, q.lda = k;
  q.w = static_cast<const uint8_t *>(w), q.ldw = ldwBytes;
  q.bias = bias, q.c = y, q.ldc = n;
  if (roundInput)
    return runRoundedInputGemms(&q, 1, pool);
  runQuantGemv(q, pool);
}

void gemmQuant(int weightType, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
               const void *w, int64_t ldwBytes, const float *bias, float *c, int64_t ldc,
               ThreadPool *pool, bool roundInput) {
  QuantArgs q;
  q.format = formatOf(weightType);
  q.m = m, q.n = n, q.k = k, q.a = a, q.lda = lda;
  q.w = static_cast<const uint8_t *>(w), q.ldw = ldwBytes;
  q.bias = bias, q.c = c, q.ldc = ldc;
  if (roundInput)
    return runRoundedInputGemms(&q, 1, pool);
  runQuantGemm(q, pool);
}

void gemmQuantPair(int weightType, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                   const void *w0, const void *w1, int64_t ldwBytes, float *c0, int64_t ldc0,
                   float *c1, int64_t ldc1, ThreadPool *pool, bool roundInput) {
  const QuantFormat format = formatOf(weightType);
  if (!roundInput) {
    gemmQuant(weightType, m, n, k, a, lda, w0, ldwBytes, nullptr, c0, ldc0, pool);
    gemmQuant(weightType, m, n, k, a, lda, w1, ldwBytes, nullptr, c1, ldc1, pool);
    return;
  }
  QuantArgs q[2];
  for (int i = 0; i < 2; ++i) {
    q[i].format = format;
    q[i].m = m, q[i].n = n, q[i].k = k, q[i].a = a, q[i].lda = lda;
    q[i].w = static_cast<const uint8_t *>(i == 0 ? w0 : w1), q[i].ldw = ldwBytes;
    q[i].c = i == 0 ? c0 : c1, q[i].ldc = i == 0 ? ldc0 : ldc1;
  }
  runRoundedInputGemms(q, 2, pool);
}

} // namespace tessel::kernels

using tessel::kernels::ThreadPool;

extern "C" {

void tessel_dequantize_rows_f32(int weight_type, int64_t n, int64_t k, const void *w,
                                int64_t ldw_bytes, float *out, int64_t ldo) {
  using namespace tessel::kernels;
  const QuantFormat format = formatOf(weight_type);
  const auto *bytes = static_cast<const uint8_t *>(w);
  ThreadPool::global().run(n, [&](int64_t j) {
    HWY_DYNAMIC_DISPATCH(DequantRow)(format, bytes + j * ldw_bytes, k, out + j * ldo);
  });
}

void tessel_gemv_q8_0_f32(int64_t n, int64_t k, const float *x, const void *w, int64_t ldw_bytes,
                          const float *bias, float *y) {
  tessel::kernels::gemvQuant(TESSEL_WEIGHT_Q8_0, n, k, x, w, ldw_bytes, bias, y,
                             &ThreadPool::global());
}

void tessel_gemv_q4_0_f32(int64_t n, int64_t k, const float *x, const void *w, int64_t ldw_bytes,
                          const float *bias, float *y) {
  tessel::kernels::gemvQuant(TESSEL_WEIGHT_Q4_0, n, k, x, w, ldw_bytes, bias, y,
                             &ThreadPool::global());
}

void tessel_gemv_bf16_f32(int64_t n, int64_t k, const float *x, const void *w, int64_t ldw_bytes,
                          const float *bias, float *y) {
  tessel::kernels::gemvQuant(TESSEL_WEIGHT_BF16, n, k, x, w, ldw_bytes, bias, y,
                             &ThreadPool::global());
}

void tessel_gemm_q8_0_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const void *w, int64_t ldw_bytes, const float *bias, float *c,
                          int64_t ldc) {
  tessel::kernels::gemmQuant(TESSEL_WEIGHT_Q8_0, m, n, k, a, lda, w, ldw_bytes, bias, c, ldc,
                             &ThreadPool::global());
}

void tessel_gemm_q4_0_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const void *w, int64_t ldw_bytes, const float *bias, float *c,
                          int64_t ldc) {
  tessel::kernels::gemmQuant(TESSEL_WEIGHT_Q4_0, m, n, k, a, lda, w, ldw_bytes, bias, c, ldc,
                             &ThreadPool::global());
}

void tessel_gemm_bf16_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const void *w, int64_t ldw_bytes, const float *bias, float *c,
                          int64_t ldc) {
  tessel::kernels::gemmQuant(TESSEL_WEIGHT_BF16, m, n, k, a, lda, w, ldw_bytes, bias, c, ldc,
                             &ThreadPool::global());
}

void tessel_gemm_q8in_f32(int weight_type, int64_t m, int64_t n, int64_t k, const float *a,
                          int64_t lda, const void *w, int64_t ldw_bytes, const float *bias,
                          float *c, int64_t ldc) {
  tessel::kernels::gemmQuant(weight_type, m, n, k, a, lda, w, ldw_bytes, bias, c, ldc,
                             &ThreadPool::global(), /*roundInput=*/true);
}

} // extern "C"
#endif // HWY_ONCE
