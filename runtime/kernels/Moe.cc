//===- Moe.cc - mixture-of-experts policy and dispatch --------------------===//
//
// tessel_moe_f32 and tessel_moe_stored_f32 (see Kernels.h). The work is the
// experts' GEMMs (f32, or stored bytes read in place), which the
// GEMM kernels already do well; what this file adds is the policy around
// them: route every token, group the tokens by expert so that each expert
// runs one GEMM over all of its tokens (its weights are streamed once per
// call, not once per token), and never touch an expert no token picked.
//
//===----------------------------------------------------------------------===//
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/Moe.cc"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "runtime/kernels/moe-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {

// The hidden activation over n floats of h, in place (the hidden rows are
// contiguous, so one call covers them all): act(h) for a non-gated expert
// (`up` null), act(h) * up for a gated one whose gate (h) and up products
// were computed apart (stored weights). kind: TESSEL_MOE_*.
void ActivateHidden(int kind, int tanhApprox, int64_t n, float *h, const float *up) {
  switch (kind) {
  case TESSEL_MOE_RELU:
    return ReluRow(n, h);
  case TESSEL_MOE_SILU:
  case TESSEL_MOE_SWIGLU:
    return ActivateRow<Act::kSilu>(n, h, up, h);
  default:
    if (tanhApprox)
      return ActivateRow<Act::kGeluTanh>(n, h, up, h);
    return ActivateRow<Act::kGeluErf>(n, h, up, h);
  }
}

// out[token[i] * ldo + d] += weight[i] * y[i * n + d] for i < rows.
void ScatterAddRows(int64_t rows, int64_t n, const float *y, const int64_t *token,
                    const float *weight, float *out, int64_t ldo) {
  for (int64_t i = 0; i < rows; ++i)
    AddScaledRow(y + i * n, n, weight[i], out + token[i] * ldo);
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "runtime/kernels/Internal.h"
#include "runtime/kernels/ThreadPool.h"

namespace tessel::kernels {
HWY_EXPORT(ActivateHidden);
HWY_EXPORT(ScatterAddRows);

namespace {

/// Rows of one expert's group (or of the shared experts' tokens) per FFN
/// call. The gated GEMM packs its weight block once per kGluRows rows, so
/// blocks of that size cost no more packing than one call over all rows,
/// while the hidden activations stay bounded (kMoeRows x hidden floats)
/// however long the prompt.
constexpr int64_t kMoeRows = kGluRows;

std::atomic<int64_t> gBytesRead{0};

bool isGated(int activation) {
  return activation == TESSEL_MOE_SWIGLU || activation == TESSEL_MOE_GEGLU;
}

/// Grow-only per-thread buffers: a decode step calls the kernel once per
/// layer, where allocating each time would cost as much as the routing.
struct MoeScratch {
  std::vector<float> logits;   // [tokens, E]
  std::vector<double> scores;  // [E]
  std::vector<char> taken;     // [E]
  std::vector<int64_t> picked; // [tokens, top_k], expert ids
  std::vector<double> weights; // [tokens, top_k]
  std::vector<int64_t> offset; // [E + 1]: expert e's slots are [offset[e], offset[e + 1])
  std::vector<int64_t> next;   // [E]: the counting sort's next free slot per expert
  std::vector<int64_t> token;  // [tokens * top_k], grouped by expert
  std::vector<float> weight;   // likewise
  std::vector<float> rows, hidden, up, result;
};

/// One FFN's three matrices, f32 or stored (`type`): up and gate [hidden,
/// dim], down [dim, hidden].
struct FfnWeights {
  const void *up, *gate, *down;
  int type;
  int64_t hidden;

  /// Expert e's matrices in stacks of such FFNs.
  FfnWeights expert(int64_t e, int64_t dim) const {
    const int64_t upBytes = hidden * weightRowBytes(type, dim),
                  downBytes = dim * weightRowBytes(type, hidden);
    auto at = [](const void *p, int64_t offset) -> const void * {
      return p ? static_cast<const uint8_t *>(p) + offset : nullptr;
    };
    return {at(up, e * upBytes), at(gate, e * upBytes), at(down, e * downBytes), type, hidden};
  }
  /// Bytes a pass over all its matrices reads.
  int64_t bytes(int64_t dim) const {
    return (gate ? 2 : 1) * hidden * weightRowBytes(type, dim) + dim * weightRowBytes(type, hidden);
  }
};

/// Token t's scores, its top_k experts and their weights, computed exactly
/// as ref::moe (reference/Ops.cpp) does, expression for expression: the
/// same f32 logits then route the same way, including exact ties and
/// sigmoid scores that saturate to 1 (both go to the lower expert index;
/// ranking the logits instead would break those ties the other way).
/// `taken` is [E] scratch.
void routeToken(const MoeArgs &a, int64_t topK, const float *lt, double *scores, char *taken,
                int64_t *picked, double *weights) {
  const int64_t numExperts = a.numExperts;
  if (a.scoring == TESSEL_MOE_SIGMOID) {
    for (int64_t e = 0; e < numExperts; ++e)
      scores[e] = 1.0 / (1.0 + std::exp(-lt[e])); // f32 exp, as the reference
  } else {
    double m = *std::max_element(lt, lt + numExperts), sum = 0;
    for (int64_t e = 0; e < numExperts; ++e)
      sum += (scores[e] = std::exp(lt[e] - m));
    for (int64_t e = 0; e < numExperts; ++e)
      scores[e] /= sum;
  }
  // Selection, O(E * top_k): E is at most a few hundred and top_k small,
  // negligible next to one expert's GEMV. A strict `>` keeps the lower
  // index on ties; NaN ranks last.
  auto better = [&](int64_t e, int64_t than) {
    return !std::isnan(scores[e]) && (std::isnan(scores[than]) || scores[e] > scores[than]);
  };
  std::fill_n(taken, numExperts, 0);
  double sum = 0;
  for (int64_t k = 0; k < topK; ++k) {
    int64_t best = -1;
    for (int64_t e = 0; e < numExperts; ++e)
      if (!taken[e] && (best < 0 || better(e, best)))
        best = e;
    taken[best] = 1;
    picked[k] = best;
    sum += scores[best];
  }
  for (int64_t k = 0; k < topK; ++k)
    weights[k] = scores[picked[k]] * (a.normalizeTopK ? 1.0 / sum : 1.0) *
                 static_cast<double>(a.routedScale);
}

/// One FFN over `rows` rows x[r * ldx + p]: y = act(x up^T [, x gate^T])
/// down^T into y[r * ldy + d]. s.hidden (and s.up) are the scratch for the
/// hidden activations. f32 weights take the fused GLU GEMM; stored ones
/// the stored-weight GEMMs (which have no GLU epilogue: gate and up apart).
void ffnRows(const MoeArgs &a, int64_t rows, const float *x, int64_t ldx, const FfnWeights &w,
             MoeScratch &s, float *y, int64_t ldy, ThreadPool *pool) {
  const int64_t hidden = w.hidden, n = rows * hidden;
  s.hidden.resize(static_cast<size_t>(n));
  float *h = s.hidden.data();
  if (w.type == TESSEL_WEIGHT_F32) {
    const auto *up = static_cast<const float *>(w.up), *gate = static_cast<const float *>(w.gate);
    if (isGated(a.activation)) {
      gemmGlu(rows, hidden, a.dim, x, ldx, gate, up, a.dim,
              a.activation == TESSEL_MOE_SWIGLU ? TESSEL_GLU_SILU : TESSEL_GLU_GELU, a.tanhApprox,
              h, hidden, pool);
    } else {
      gemm(rows, hidden, a.dim, x, ldx, up, a.dim, nullptr, h, hidden, pool);
      HWY_DYNAMIC_DISPATCH(ActivateHidden)(a.activation, a.tanhApprox, n, h, nullptr);
    }
    gemm(rows, a.dim, hidden, h, hidden, static_cast<const float *>(w.down), hidden, nullptr, y,
         ldy, pool);
    return;
  }
  const int64_t upRow = weightRowBytes(w.type, a.dim);
  const bool round = a.roundInputs;
  const float *up = nullptr;
  if (isGated(a.activation)) {
    s.up.resize(static_cast<size_t>(n));
    // One rounding of x and one hand-off for both products.
    gemmQuantPair(w.type, rows, hidden, a.dim, x, ldx, w.up, w.gate, upRow, s.up.data(), hidden, h,
                  hidden, pool, round);
    up = s.up.data();
  } else {
    gemmQuant(w.type, rows, hidden, a.dim, x, ldx, w.up, upRow, nullptr, h, hidden, pool, round);
  }
  HWY_DYNAMIC_DISPATCH(ActivateHidden)(a.activation, a.tanhApprox, n, h, up);
  gemmQuant(w.type, rows, a.dim, hidden, h, hidden, w.down, weightRowBytes(w.type, hidden), nullptr,
            y, ldy, pool, round);
}

} // namespace

void moe(const MoeArgs &a, ThreadPool *pool) {
  if (a.tokens <= 0 || a.dim <= 0)
    return;
  thread_local MoeScratch s;
  const int64_t tokens = a.tokens, dim = a.dim, numExperts = a.numExperts;
  const int64_t topK = std::clamp<int64_t>(a.topK, 0, numExperts);
  const bool gated = isGated(a.activation);
  const FfnWeights shared{a.sharedUp, gated ? a.sharedGate : nullptr, a.sharedDown,
                          a.sharedWeightType, a.sharedHidden};
  const FfnWeights experts{a.wUp, gated ? a.wGate : nullptr, a.wDown, a.weightType, a.hidden};
  int64_t bytes = 0;

  // 1. Shared experts over every token, straight into out (no weights, no
  // gathering: the rows of x are already a strided matrix); without them,
  // out starts at zero. The routed experts then add onto it.
  if (a.sharedHidden > 0) {
    for (int64_t r0 = 0; r0 < tokens; r0 += kMoeRows) {
      const int64_t rows = std::min(kMoeRows, tokens - r0);
      ffnRows(a, rows, a.x + r0 * a.ldx, a.ldx, shared, s, a.out + r0 * a.ldo, a.ldo, pool);
      bytes += shared.bytes(dim);
    }
  } else {
    for (int64_t t = 0; t < tokens; ++t)
      std::fill_n(a.out + t * a.ldo, dim, 0.0f);
  }
  if (numExperts <= 0 || topK <= 0) {
    gBytesRead.fetch_add(bytes, std::memory_order_relaxed);
    return;
  }

  // 2. Router logits: one [tokens, E] GEMM.
  s.logits.resize(static_cast<size_t>(tokens * numExperts));
  gemm(tokens, numExperts, dim, a.x, a.ldx, a.router, dim, nullptr, s.logits.data(), numExperts,
       pool);
  bytes += numExperts * dim * 4;

  // 3. Routing, then a counting sort of the (token, expert) pairs by
  // expert, tokens ascending within each expert.
  s.scores.resize(numExperts);
  s.taken.resize(numExperts);
  s.picked.resize(static_cast<size_t>(tokens * topK));
  s.weights.resize(static_cast<size_t>(tokens * topK));
  s.offset.assign(numExperts + 1, 0);
  for (int64_t t = 0; t < tokens; ++t) {
    int64_t *picked = &s.picked[t * topK];
    routeToken(a, topK, &s.logits[t * numExperts], s.scores.data(), s.taken.data(), picked,
               &s.weights[t * topK]);
    for (int64_t k = 0; k < topK; ++k)
      ++s.offset[picked[k] + 1];
  }
  for (int64_t e = 0; e < numExperts; ++e)
    s.offset[e + 1] += s.offset[e];
  s.token.resize(static_cast<size_t>(tokens * topK));
  s.weight.resize(static_cast<size_t>(tokens * topK));
  s.next.assign(s.offset.begin(), s.offset.end() - 1);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t k = 0; k < topK; ++k) {
      const int64_t slot = s.next[s.picked[t * topK + k]]++;
      s.token[slot] = t;
      s.weight[slot] = static_cast<float>(s.weights[t * topK + k]);
    }

  // 4. Each picked expert over its tokens, in blocks of kMoeRows rows:
  // gather the rows, run the FFN, add weight * result into out. Experts
  // with no tokens are skipped, weights and all.
  for (int64_t e = 0; e < numExperts; ++e) {
    const FfnWeights expert = experts.expert(e, dim);
    for (int64_t i0 = s.offset[e]; i0 < s.offset[e + 1]; i0 += kMoeRows) {
      const int64_t rows = std::min(kMoeRows, s.offset[e + 1] - i0);
      const int64_t *token = &s.token[i0];
      s.rows.resize(static_cast<size_t>(rows * dim));
      s.result.resize(static_cast<size_t>(rows * dim));
      float *y = s.result.data();
      for (int64_t r = 0; r < rows; ++r)
        std::copy_n(a.x + token[r] * a.ldx, dim, &s.rows[r * dim]);
      ffnRows(a, rows, s.rows.data(), dim, expert, s, y, dim, pool);
      HWY_DYNAMIC_DISPATCH(ScatterAddRows)(rows, dim, y, token, &s.weight[i0], a.out, a.ldo);
      bytes += expert.bytes(dim);
    }
  }
  gBytesRead.fetch_add(bytes, std::memory_order_relaxed);
}

} // namespace tessel::kernels

extern "C" {

void tessel_moe_f32(int64_t tokens, int64_t dim, int64_t hidden, int64_t num_experts, int64_t top_k,
                    const float *x, int64_t ldx, const float *router, const float *w_up,
                    const float *w_gate, const float *w_down, int scoring, int normalize_topk,
                    float routed_scale, int activation, int tanh_approx, const float *shared_up,
                    const float *shared_gate, const float *shared_down, int64_t shared_hidden,
                    float *out, int64_t ldo) {
  tessel::kernels::MoeArgs a;
  a.tokens = tokens, a.dim = dim, a.hidden = hidden, a.numExperts = num_experts, a.topK = top_k;
  a.x = x, a.ldx = ldx, a.router = router, a.wUp = w_up, a.wGate = w_gate, a.wDown = w_down;
  a.scoring = scoring, a.normalizeTopK = normalize_topk != 0, a.routedScale = routed_scale;
  a.activation = activation, a.tanhApprox = tanh_approx != 0;
  a.sharedUp = shared_up, a.sharedGate = shared_gate, a.sharedDown = shared_down;
  a.sharedHidden = shared_hidden, a.out = out, a.ldo = ldo;
  tessel::kernels::moe(a, &tessel::kernels::ThreadPool::global());
}

void tessel_moe_stored_f32(int64_t tokens, int64_t dim, int64_t hidden, int64_t num_experts,
                           int64_t top_k, const float *x, int64_t ldx, const float *router,
                           int weight_type, const void *w_up, const void *w_gate,
                           const void *w_down, int scoring, int normalize_topk, float routed_scale,
                           int activation, int tanh_approx, int shared_weight_type,
                           const void *shared_up, const void *shared_gate, const void *shared_down,
                           int64_t shared_hidden, float *out, int64_t ldo, int round_inputs) {
  tessel::kernels::MoeArgs a;
  a.tokens = tokens, a.dim = dim, a.hidden = hidden, a.numExperts = num_experts, a.topK = top_k;
  a.x = x, a.ldx = ldx, a.router = router;
  a.weightType = weight_type, a.wUp = w_up, a.wGate = w_gate, a.wDown = w_down;
  a.scoring = scoring, a.normalizeTopK = normalize_topk != 0, a.routedScale = routed_scale;
  a.activation = activation, a.tanhApprox = tanh_approx != 0;
  a.sharedWeightType = shared_weight_type;
  a.sharedUp = shared_up, a.sharedGate = shared_gate, a.sharedDown = shared_down;
  a.sharedHidden = shared_hidden, a.out = out, a.ldo = ldo, a.roundInputs = round_inputs != 0;
  tessel::kernels::moe(a, &tessel::kernels::ThreadPool::global());
}

int64_t tessel_moe_bytes_read(void) {
  return tessel::kernels::gBytesRead.load(std::memory_order_relaxed);
}

void tessel_moe_reset_bytes_read(void) {
  tessel::kernels::gBytesRead.store(0, std::memory_order_relaxed);
}

} // extern "C"
#endif // HWY_ONCE
