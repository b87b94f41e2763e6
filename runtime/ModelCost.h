//===- ModelCost.h - what a token costs, before running it ------*- C++ -*-===//
//
// Estimates shared by `tessel inspect` (which prints them) and `tessel
// bench` (which divides the measured machine limits by them to get
// rooflines):
//   active params  every weight matrix, except the token embedding table
//                  (a lookup reads one row; counted when tied, since the
//                  output projection reads it whole) and learned positions;
//                  stacked experts (*_exps) scaled by top-k / experts, the
//                  router and shared experts counted whole
//   decode         FLOPs/token = 2 * active params; weight bytes/token = the
//                  bytes of those weights in the model file's types
//   prefill of N   2 * (active params - LM head) * N + 2 * LM head (the
//                  logits of the last position only, as @step computes)
//                  + layers * 2*2 * N*N/2 * heads * head_dim (QK^T and PV
//                  over the causal half)
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_MODELCOST_H
#define TESSEL_RUNTIME_MODELCOST_H

#include <cstdint>
#include <map>
#include <string>

#include "frontends/ModelLoader.h"

namespace tessel::runtime {

struct WeightTypeTotal {
  int64_t count = 0, params = 0;
  uint64_t bytes = 0;
};

struct ModelCost {
  int64_t params = 0;
  std::map<std::string, WeightTypeTotal> byType; // GGUF type name -> totals
  std::string weightTypes;                       // "f32", or "q8_0+f32" (by bytes, largest first)
  double activeParams = 0;                       // per token
  double headParams = 0;                         // the LM head (output projection)
  double activeWeightBytes = 0;                  // per token, in the file's types
  int64_t kvBytesPerToken = 0;                   // f32 caches, all layers
};

/// The estimates above for a loaded model.
ModelCost estimateCost(const frontends::LoadedModel &model);

/// Causal attention FLOPs of a prefill of `tokens` (scores and sums).
double attentionFlops(const frontends::ModelConfig &config, int64_t tokens);

/// FLOPs of a prefill of `tokens` that returns the last position's logits:
/// 2 * (active params - head) * tokens + 2 * head + attention.
double prefillFlops(const ModelCost &cost, const frontends::ModelConfig &config, int64_t tokens);

/// The formulas, as `tessel inspect` prints them.
extern const char *const kCostFormula;

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_MODELCOST_H
