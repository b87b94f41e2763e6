//===- ModelCost.cpp ------------------------------------------------------===//
#include "runtime/ModelCost.h"

#include <algorithm>
#include <vector>

#include "frontends/ModelToIR.h"
#include "frontends/WeightTypes.h"

namespace tessel::runtime {

const char *const kCostFormula =
    "decode FLOPs/token = 2 * active params (all weight matrices; token_embd only when tied; "
    "stacked experts scaled by top-k/experts, router and shared experts whole); prefill of N "
    "tokens = N * (decode - 2 * LM head) + 2 * LM head (logits of the last position) + layers "
    "* 2*2*N*N/2 * heads * head_dim (causal attention); weight bytes/token = bytes of the "
    "active weights";

namespace {
bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
} // namespace

ModelCost estimateCost(const frontends::LoadedModel &model) {
  const frontends::ModelConfig &c = model.config;
  ModelCost cost;
  const double moeFraction =
      c.numExperts > 0 ? double(c.expertsPerToken) / double(c.numExperts) : 1.0;
  for (const auto &[name, w] : model.weights.all()) {
    int64_t n = w.numel();
    cost.params += n;
    WeightTypeTotal &t = cost.byType[frontends::weightTypeInfo(w.type).name];
    t.count += 1;
    t.params += n;
    t.bytes += w.bytes;
    double share = 1.0;
    if (name == "token_embd.weight")
      share = c.tiedEmbeddings ? 1.0 : 0.0;
    else if (name == "position_embd.weight")
      share = 0.0;
    else if (endsWith(name, "_exps.weight"))
      share = moeFraction;
    cost.activeParams += share * double(n);
    if (name == "output.weight" || (name == "token_embd.weight" && c.tiedEmbeddings &&
                                    !model.weights.contains("output.weight")))
      cost.headParams = double(n);
    cost.activeWeightBytes += share * double(w.bytes);
  }
  std::vector<std::pair<uint64_t, std::string>> types;
  for (const auto &[type, t] : cost.byType)
    types.push_back({t.bytes, type});
  std::sort(types.rbegin(), types.rend());
  for (const auto &[bytes, type] : types)
    cost.weightTypes += (cost.weightTypes.empty() ? "" : "+") + type;

  // KV cache: the @step cache shapes for some length, per row.
  const int64_t rows = c.contextLength > 0 ? c.contextLength : 1;
  double kvBytes = 0;
  for (const auto &shape : frontends::kvCacheShapes(c, rows)) {
    double elems = 1;
    for (int64_t d : shape)
      elems *= double(d);
    kvBytes += elems * sizeof(float);
  }
  cost.kvBytesPerToken = static_cast<int64_t>(kvBytes / double(rows));
  return cost;
}

double attentionFlops(const frontends::ModelConfig &c, int64_t tokens) {
  const int64_t headDim = c.isMla() ? c.qkNopeDim + c.qkRopeDim : c.headDim;
  return double(c.numLayers) * 2 * 2 * double(tokens) * double(tokens) / 2 * double(c.numHeads) *
         double(headDim);
}

double prefillFlops(const ModelCost &cost, const frontends::ModelConfig &c, int64_t tokens) {
  return 2 * (cost.activeParams - cost.headParams) * double(tokens) + 2 * cost.headParams +
         attentionFlops(c, tokens);
}

} // namespace tessel::runtime
