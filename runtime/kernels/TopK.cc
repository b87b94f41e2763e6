//===- TopK.cc - top-k policy and dispatch --------------------------------===//
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/TopK.cc"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "runtime/kernels/topk-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {

void TopKRows(int64_t rows, int64_t n, int64_t k, const float *x, int64_t *idx, float *val) {
  for (int64_t r = 0; r < rows; ++r)
    TopKRowImpl(x + r * n, n, k, idx + r * k, val + r * k);
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace tessel::kernels {
HWY_EXPORT(TopKRows);

namespace {
// Above this k, keeping a sorted array costs O(k) per insertion; a heap
// (std::partial_sort, O(n log k)) wins.
constexpr int64_t kTopKInsertionMax = 128;
} // namespace

void topK(int64_t rows, int64_t n, int64_t k, const float *x, int64_t *outIdx, float *outVal) {
  if (rows <= 0 || k <= 0)
    return;
  std::vector<float> vals;
  if (!outVal) {
    vals.resize(rows * k);
    outVal = vals.data();
  }
  // k > n is outside the contract; the extra slots get index -1 and NaN.
  const int64_t kk = std::min(k, n);
  std::vector<int64_t> order;
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * n;
    int64_t *idx = outIdx + r * k;
    float *val = outVal + r * k;
    if (kk > 0 && kk <= kTopKInsertionMax) {
      HWY_DYNAMIC_DISPATCH(TopKRows)(1, n, kk, xr, idx, val);
    } else if (kk > 0) {
      order.resize(n);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + kk, order.end(), [&](int64_t a, int64_t b) {
        const bool na = std::isnan(xr[a]), nb = std::isnan(xr[b]);
        if (na != nb)
          return nb; // numbers first
        if (!na && xr[a] != xr[b])
          return xr[a] > xr[b];
        return a < b;
      });
      for (int64_t i = 0; i < kk; ++i) {
        idx[i] = order[i];
        val[i] = xr[order[i]];
      }
    }
    for (int64_t i = kk; i < k; ++i) {
      idx[i] = -1;
      val[i] = std::nanf("");
    }
  }
}

} // namespace tessel::kernels

extern "C" void tessel_topk_f32(int64_t rows, int64_t n, int64_t k, const float *x,
                                int64_t *out_idx, float *out_val) {
  tessel::kernels::topK(rows, n, k, x, out_idx, out_val);
}
#endif // HWY_ONCE
