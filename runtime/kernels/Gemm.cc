//===- Gemm.cc - GEMM / GEMV policy and dispatch --------------------------===//
//
// Non-SIMD policy: which path a GEMM takes and how it is split across the
// pool, and the passes that the fused GEMMs make before it (the norm
// prologue's row statistics, the RoPE epilogue's angle tables). The
// per-target code (gemm-inl.h) is compiled once per Highway target through
// foreach_target.h and called through HWY_DYNAMIC_DISPATCH.
//
//===----------------------------------------------------------------------===//

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/Gemm.cc"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "runtime/kernels/gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {

void GemmRegion(const GemmArgs &g, int64_t row0, int64_t row1, int64_t col0, int64_t col1) {
  GemmRegionImpl(g, row0, row1, col0, col1);
}

void PackWeights(int64_t n, int64_t k, const float *w, int64_t ldw, float *packed) {
  PackWeightsImpl(n, k, w, ldw, packed);
}

void NormRowStats(NormKind kind, int64_t row0, int64_t row1, int64_t k, const float *a, int64_t lda,
                  float eps, float *inv, float *mean) {
  NormRowStatsImpl(kind, row0, row1, k, a, lda, eps, inv, mean);
}

void NormalizeRows(const NormPrologue &norm, int64_t rows, int64_t k, const float *a, int64_t lda,
                   float *y) {
  NormalizeRowsImpl(norm, rows, k, a, lda, y);
}

const char *TargetName() { return hwy::TargetName(HWY_TARGET); }

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <new>
#include <numeric>
#include <vector>

#include "runtime/kernels/ThreadPool.h"

namespace tessel::kernels {

HWY_EXPORT(GemmRegion);
HWY_EXPORT(PackWeights);
HWY_EXPORT(NormRowStats);
HWY_EXPORT(NormalizeRows);
HWY_EXPORT(TargetName);

void *scratch(Scratch slot, size_t bytes) {
  struct Buffer {
    void *data = nullptr;
    size_t size = 0;
    ~Buffer() { ::operator delete(data, std::align_val_t(64)); }
  };
  thread_local Buffer buffers[static_cast<int>(Scratch::kCount)];
  Buffer &b = buffers[static_cast<int>(slot)];
  if (b.size < bytes) {
    ::operator delete(b.data, std::align_val_t(64));
    b.size = std::max(bytes, b.size + b.size / 2);
    b.data = ::operator new(b.size, std::align_val_t(64));
  }
  return b.data;
}

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Splits a GEMM into one region per thread: by columns (whole panels) when
// there are enough panels, which keeps each thread's packed B private and
// needs no reduction; otherwise by rows, in multiples of 24 (divisible by
// every target's mr, so only the last strip can be partial). K is never
// split, so the result does not depend on the number of threads. The
// addend and gated epilogues are per element, so they split the same way;
// the RoPE epilogue rotates whole heads, so a column split cuts at
// multiples of head_dim too.
void runGemm(const GemmArgs &g, ThreadPool *pool) {
  if (g.m <= 0 || g.n <= 0)
    return;
  auto region = HWY_DYNAMIC_DISPATCH(GemmRegion);
  int64_t threads = pool ? pool->numThreads() : 1;
  const int64_t products = g.bUp ? 2 : 1; // gated: two sums per output
  if (g.m * g.n * std::max<int64_t>(g.k, 1) * products < kParallelMinFlops)
    threads = 1;
  if (threads <= 1)
    return region(g, 0, g.m, 0, g.n);

  const bool skinny = TakesDotPath(g);
  // Skinny GEMMs split columns in groups of 4 (Dot4's W rows), so that
  // only the end of n takes the n % 4 tail; packed ones in whole panels so
  // that prepacked panels line up.
  int64_t colUnit = skinny ? 4 : kPanel;
  if (g.rope)
    colUnit = std::lcm(colUnit, g.rope->headDim);
  const int64_t units = ceilDiv(g.n, colUnit);
  if (skinny || units >= threads) {
    const int64_t tasks = std::min(threads, units);
    pool->runPinned(tasks, [&](int64_t t) {
      int64_t u0 = units * t / tasks, u1 = units * (t + 1) / tasks;
      region(g, 0, g.m, u0 * colUnit, std::min(g.n, u1 * colUnit));
    });
    return;
  }
  const int64_t rowUnit = 24;
  const int64_t rowUnits = ceilDiv(g.m, rowUnit);
  const int64_t tasks = std::min(threads, rowUnits);
  pool->runPinned(tasks, [&](int64_t t) {
    int64_t u0 = rowUnits * t / tasks, u1 = rowUnits * (t + 1) / tasks;
    region(g, u0 * rowUnit, std::min(g.m, u1 * rowUnit), 0, g.n);
  });
}

// Calls work(row0, row1) over [0, m) in tasks of kFusedPassRows rows, on
// the pool when there are at least two tasks.
template <class Work> void forRowBlocks(int64_t m, ThreadPool *pool, const Work &work) {
  const int64_t tasks = ceilDiv(m, kFusedPassRows);
  if (!pool || pool->numThreads() <= 1 || tasks < 2)
    return work(0, m);
  pool->run(tasks,
            [&](int64_t t) { work(t * kFusedPassRows, std::min(m, (t + 1) * kFusedPassRows)); });
}

// The norm prologue: the per-row statistics in one pass over A (m floats
// each, in the calling thread's scratch, read by every thread), then the
// GEMM normalising A as it packs it. A skinny GEMM (TakesDotPath) streams W
// against its rows once per group of four outputs, so it normalises its few
// rows into scratch instead and runs on that copy.
void runNormGemm(GemmArgs g, NormPrologue norm, float eps, ThreadPool *pool) {
  if (g.m <= 0 || g.n <= 0)
    return;
  if (g.k <= 0) // no input features: c = bias
    return runGemm(g, pool);
  const bool skinny = TakesDotPath(g); // g has no norm yet
  float *buf = scratchOf<float>(Scratch::kNormRows, 2 * g.m + (skinny ? g.m * g.k : 0));
  float *inv = buf, *mean = buf + g.m;
  auto stats = HWY_DYNAMIC_DISPATCH(NormRowStats);
  forRowBlocks(g.m, g.m * g.k * g.n < kParallelMinFlops ? nullptr : pool,
               [&](int64_t row0, int64_t row1) {
                 stats(norm.kind, row0, row1, g.k, g.a, g.lda, eps, inv, mean);
               });
  norm.inv = inv;
  norm.mean = mean;
  if (skinny) {
    float *rows = buf + 2 * g.m;
    HWY_DYNAMIC_DISPATCH(NormalizeRows)(norm, g.m, g.k, g.a, g.lda, rows);
    g.a = rows;
    g.lda = g.k;
  } else {
    g.norm = &norm;
  }
  runGemm(g, pool);
}

} // namespace

void gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *w, int64_t ldw,
          const float *bias, float *c, int64_t ldc, ThreadPool *pool) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.b = w, g.ldb = ldw;
  g.bias = bias, g.c = c, g.ldc = ldc;
  runGemm(g, pool);
}

void gemmAddend(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *w,
                int64_t ldw, const float *bias, const float *addend, int64_t ldAddend, float *c,
                int64_t ldc, ThreadPool *pool) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.b = w, g.ldb = ldw;
  g.bias = bias, g.addend = addend, g.ldAddend = ldAddend, g.c = c, g.ldc = ldc;
  runGemm(g, pool);
}

void gemmGlu(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *wGate,
             const float *wUp, int64_t ldw, int activation, bool tanhApprox, float *c, int64_t ldc,
             ThreadPool *pool) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.b = wGate, g.bUp = wUp, g.ldb = ldw;
  g.glu = activation == TESSEL_GLU_SILU ? Activation::kSilu
          : tanhApprox                  ? Activation::kGeluTanh
                                        : Activation::kGeluErf;
  g.c = c, g.ldc = ldc;
  runGemm(g, pool);
}

void rmsNormGemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *normW,
                 float eps, int unitOffset, const float *w, int64_t ldw, const float *bias,
                 float *c, int64_t ldc, ThreadPool *pool) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.b = w, g.ldb = ldw;
  g.bias = bias, g.c = c, g.ldc = ldc;
  NormPrologue norm;
  norm.kind = NormKind::kRms, norm.w = normW, norm.offset = unitOffset ? 1.0f : 0.0f;
  runNormGemm(g, norm, eps, pool);
}

void layerNormGemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *normW,
                   const float *normB, float eps, const float *w, int64_t ldw, const float *bias,
                   float *c, int64_t ldc, ThreadPool *pool) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.b = w, g.ldb = ldw;
  g.bias = bias, g.c = c, g.ldc = ldc;
  NormPrologue norm;
  norm.kind = NormKind::kLayer, norm.w = normW, norm.b = normB;
  runNormGemm(g, norm, eps, pool);
}

// The RoPE epilogue: every row's cos/sin tables first (the f64 angles of
// tessel_rope_f32, built once per row and shared by all threads, since a
// column split gives each thread some heads of every row), then the GEMM,
// which rotates each block of rows as soon as its heads are final.
void gemmRope(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *w,
              int64_t ldw, const float *bias, float *c, int64_t ldc, int64_t heads, int64_t headDim,
              const int64_t *positions, int layout, float theta, int64_t rotaryDim,
              float linearScaling, const float *freqFactors, ThreadPool *pool) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.b = w, g.ldb = ldw;
  g.bias = bias, g.c = c, g.ldc = ldc;
  if (m <= 0 || n <= 0)
    return;
  if (heads <= 0 || headDim <= 0) // nothing to rotate
    return runGemm(g, pool);
  RopeEpilogue rope;
  rope.heads = heads, rope.headDim = headDim, rope.layout = layout;
  rope.rot = rotaryDim > 0 ? rotaryDim : headDim;
  rope.tableStride = ropeTableWidth(layout, rope.rot);
  const float *tables =
      ropeTables(layout, rope.rot, theta, linearScaling, freqFactors, positions, m, pool);
  rope.cos = tables;
  rope.sin = tables + m * rope.tableStride;
  g.rope = &rope;
  runGemm(g, pool);
}

void gemmPacked(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                const float *bias, float *c, int64_t ldc, ThreadPool *pool) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.packed = packed;
  g.bias = bias, g.c = c, g.ldc = ldc;
  runGemm(g, pool);
}

void gemv(int64_t n, int64_t k, const float *x, const float *w, int64_t ldw, const float *bias,
          float *y, ThreadPool *pool) {
  GemmArgs g;
  g.m = 1, g.n = n, g.k = k, g.a = x, g.lda = k, g.b = w, g.ldb = ldw;
  g.bias = bias, g.c = y, g.ldc = n;
  if (n * k < kParallelMinGemvFloats)
    pool = nullptr;
  if (!pool || pool->numThreads() <= 1 || n < 8) {
    HWY_DYNAMIC_DISPATCH(GemmRegion)(g, 0, 1, 0, n);
    return;
  }
  auto region = HWY_DYNAMIC_DISPATCH(GemmRegion);
  const int64_t units = ceilDiv(n, 4);
  const int64_t tasks = std::min<int64_t>(pool->numThreads(), units);
  pool->runPinned(tasks, [&](int64_t t) {
    int64_t u0 = units * t / tasks, u1 = units * (t + 1) / tasks;
    region(g, 0, 1, u0 * 4, std::min(n, u1 * 4));
  });
}

void batchGemm(int64_t batch, int64_t m, int64_t n, int64_t k, const float *a, int64_t aBatch,
               int64_t lda, const float *b, int64_t bBatch, int64_t ldb, bool bKN, float *c,
               int64_t cBatch, int64_t ldc, ThreadPool *pool) {
  if (batch <= 0 || m <= 0 || n <= 0)
    return;
  auto product = [&](int64_t i) {
    GemmArgs g;
    g.m = m, g.n = n, g.k = k, g.a = a + i * aBatch, g.lda = lda;
    g.b = b + i * bBatch, g.ldb = ldb, g.layout = bKN ? BLayout::kKN : BLayout::kNK;
    g.c = c + i * cBatch, g.ldc = ldc;
    return g;
  };
  const int64_t work = m * n * std::max<int64_t>(k, 1);
  const int64_t threads = pool ? pool->numThreads() : 1;
  // Decode-sized products (m <= kSkinnyRows) stream their B: worth threads
  // once B is as large as a GEMV's threshold, as in gemv().
  const bool small =
      m <= kSkinnyRows ? batch * n * k < kParallelMinGemvFloats : batch * work < kParallelMinFlops;
  if (threads <= 1 || small) {
    auto region = HWY_DYNAMIC_DISPATCH(GemmRegion);
    for (int64_t i = 0; i < batch; ++i)
      region(product(i), 0, m, 0, n);
    return;
  }
  if (work < kParallelMinFlops) {
    // Whole products per task: one is too small to be worth a split.
    auto region = HWY_DYNAMIC_DISPATCH(GemmRegion);
    const int64_t tasks = std::min(threads, batch);
    pool->runPinned(tasks, [&](int64_t t) {
      for (int64_t i = batch * t / tasks; i < batch * (t + 1) / tasks; ++i)
        region(product(i), 0, m, 0, n);
    });
    return;
  }
  for (int64_t i = 0; i < batch; ++i)
    runGemm(product(i), pool);
}

const char *targetName() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

void packWeights(int64_t n, int64_t k, const float *w, int64_t ldw, float *packed) {
  HWY_DYNAMIC_DISPATCH(PackWeights)(n, k, w, ldw, packed);
}

} // namespace tessel::kernels

using tessel::kernels::ThreadPool;

extern "C" {

void tessel_set_num_threads(int64_t num_threads) {
  ThreadPool::setGlobalThreads(static_cast<int>(num_threads));
}

int64_t tessel_get_num_threads(void) { return ThreadPool::global().numThreads(); }

const char *tessel_kernels_target(void) { return tessel::kernels::targetName(); }

void tessel_batch_gemm_f32(int64_t batch, int64_t m, int64_t n, int64_t k, const float *a,
                           int64_t a_bs, int64_t lda, const float *b, int64_t b_bs, int64_t ldb,
                           int b_kn, float *c, int64_t c_bs, int64_t ldc) {
  tessel::kernels::batchGemm(batch, m, n, k, a, a_bs, lda, b, b_bs, ldb, b_kn != 0, c, c_bs, ldc,
                             &ThreadPool::global());
}

void tessel_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *w,
                     int64_t ldw, const float *bias, float *c, int64_t ldc) {
  tessel::kernels::gemm(m, n, k, a, lda, w, ldw, bias, c, ldc, &ThreadPool::global());
}

void tessel_gemm_addend_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                            const float *w, int64_t ldw, const float *bias, const float *addend,
                            int64_t ld_addend, float *c, int64_t ldc) {
  tessel::kernels::gemmAddend(m, n, k, a, lda, w, ldw, bias, addend, ld_addend, c, ldc,
                              &ThreadPool::global());
}

void tessel_gemm_glu_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                         const float *w_gate, const float *w_up, int64_t ldw, int activation,
                         int tanh_approx, float *c, int64_t ldc) {
  tessel::kernels::gemmGlu(m, n, k, a, lda, w_gate, w_up, ldw, activation, tanh_approx != 0, c, ldc,
                           &ThreadPool::global());
}

void tessel_rms_norm_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                              const float *norm_w, float eps, int unit_offset, const float *w,
                              int64_t ldw, const float *bias, float *c, int64_t ldc) {
  tessel::kernels::rmsNormGemm(m, n, k, a, lda, norm_w, eps, unit_offset, w, ldw, bias, c, ldc,
                               &ThreadPool::global());
}

void tessel_layer_norm_gemm_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                                const float *norm_w, const float *norm_b, float eps, const float *w,
                                int64_t ldw, const float *bias, float *c, int64_t ldc) {
  tessel::kernels::layerNormGemm(m, n, k, a, lda, norm_w, norm_b, eps, w, ldw, bias, c, ldc,
                                 &ThreadPool::global());
}

void tessel_gemm_rope_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const float *w, int64_t ldw, const float *bias, float *c, int64_t ldc,
                          int64_t heads, int64_t head_dim, const int64_t *positions, int layout,
                          float theta, int64_t rotary_dim, float linear_scaling,
                          const float *freq_factors) {
  tessel::kernels::gemmRope(m, n, k, a, lda, w, ldw, bias, c, ldc, heads, head_dim, positions,
                            layout, theta, rotary_dim, linear_scaling, freq_factors,
                            &ThreadPool::global());
}

void tessel_gemv_f32(int64_t n, int64_t k, const float *x, const float *w, int64_t ldw,
                     const float *bias, float *y) {
  tessel::kernels::gemv(n, k, x, w, ldw, bias, y, &ThreadPool::global());
}

int64_t tessel_gemm_packed_size_f32(int64_t n, int64_t k) {
  return (n + TESSEL_GEMM_PANEL - 1) / TESSEL_GEMM_PANEL * TESSEL_GEMM_PANEL * k;
}

void tessel_gemm_pack_w_f32(int64_t n, int64_t k, const float *w, int64_t ldw, float *packed) {
  tessel::kernels::packWeights(n, k, w, ldw, packed);
}

void tessel_gemm_packed_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                            const float *packed, const float *bias, float *c, int64_t ldc) {
  tessel::kernels::gemmPacked(m, n, k, a, lda, packed, bias, c, ldc, &ThreadPool::global());
}

} // extern "C"
#endif // HWY_ONCE
