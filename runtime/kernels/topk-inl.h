//===- topk-inl.h - per-target top-k of one row -----------------*- C++ -*-===//
//
// Keeps the k best (value descending, index ascending) seen so far in a
// sorted array and scans the rest of the row a vector at a time, skipping
// every vector with no lane better than the current k-th value. For the usual
// shapes (k of 1..64 out of a 32k-150k vocabulary, or 2..8 of 8..256
// experts) almost every vector is skipped after the first few thousand
// elements, so the scan runs at load speed. Large k goes through
// std::partial_sort in TopK.cc instead.
//
//===----------------------------------------------------------------------===//
#if defined(TESSEL_RUNTIME_KERNELS_TOPK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TESSEL_RUNTIME_KERNELS_TOPK_INL_H_
#undef TESSEL_RUNTIME_KERNELS_TOPK_INL_H_
#else
#define TESSEL_RUNTIME_KERNELS_TOPK_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Whether value a (at a later index) beats b: numbers beat NaN, and among
// numbers only a strictly larger value wins (ties keep the earlier index).
HWY_INLINE bool BeatsLater(float a, float b) { return !std::isnan(a) && (std::isnan(b) || a > b); }

HWY_INLINE void TopKRowImpl(const float *x, int64_t n, int64_t k, int64_t *idx, float *val) {
  // Seed with the first k elements in stable order.
  for (int64_t i = 0; i < k; ++i)
    idx[i] = i;
  std::stable_sort(idx, idx + k, [&](int64_t a, int64_t b) { return BeatsLater(x[a], x[b]); });
  for (int64_t i = 0; i < k; ++i)
    val[i] = x[idx[i]];

  auto insert = [&](int64_t j) {
    const float v = x[j];
    if (!BeatsLater(v, val[k - 1]))
      return;
    int64_t pos = k - 1;
    while (pos > 0 && BeatsLater(v, val[pos - 1])) {
      val[pos] = val[pos - 1];
      idx[pos] = idx[pos - 1];
      --pos;
    }
    val[pos] = v;
    idx[pos] = j;
  };

  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  int64_t j = k;
  for (; j + L <= n; j += L) {
    const auto v = hn::LoadU(d, x + j);
    const float worst = val[k - 1];
    // A NaN k-th value is beaten by any number (v == v is false for NaN).
    const auto better = std::isnan(worst) ? hn::Eq(v, v) : hn::Gt(v, hn::Set(d, worst));
    if (hn::AllFalse(d, better))
      continue;
    for (int64_t e = j; e < j + L; ++e)
      insert(e);
  }
  for (; j < n; ++j)
    insert(j);
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif // TESSEL_RUNTIME_KERNELS_TOPK_INL_H_
