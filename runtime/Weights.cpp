//===- Weights.cpp --------------------------------------------------------===//
#include "runtime/Weights.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "frontends/WeightTypes.h"
#include "support/Progress.h"

namespace tessel::runtime {

absl::StatusOr<std::vector<ref::Tensor>> weightsAsF32(const frontends::WeightStore &weights,
                                                      const std::vector<std::string> &names) {
  // Dequantizing (and copying from the mapped file) is what takes the time
  // for a large model: the bar counts elements.
  std::vector<const frontends::WeightTensor *> tensors;
  tensors.reserve(names.size());
  int64_t elements = 0;
  for (const std::string &name : names) {
    auto w = weights.get(name);
    if (!w.ok())
      return w.status();
    tensors.push_back(*w);
    elements += (*w)->numel();
  }
  support::ProgressBar progress("loading weights", elements);
  std::vector<ref::Tensor> out;
  out.reserve(names.size());
  for (const frontends::WeightTensor *w : tensors) {
    ref::Tensor t = ref::Tensor::zerosF32(w->shape);
    t.f = w->toF32();
    out.push_back(std::move(t));
    progress.advance(w->numel());
  }
  progress.finish();
  return out;
}

absl::StatusOr<BoundWeights> bindWeights(const frontends::WeightStore &weights,
                                         const codegen::JitModule &module,
                                         const std::string &function) {
  auto names = module.weightNames(function);
  if (!names.ok())
    return names.status();
  auto sig = module.signatures().find(function);
  if (sig == module.signatures().end())
    return absl::NotFoundError("no function @" + function + " in the compiled module");
  const std::vector<codegen::TensorKind> &kinds = sig->second.args;
  const size_t first = kinds.size() - names->size(); // weights are the trailing arguments
  std::vector<std::string> dequantized;
  for (size_t i = 0; i < names->size(); ++i)
    if (kinds[first + i].dtype != ref::DType::I8)
      dequantized.push_back((*names)[i]);
  BoundWeights bound;
  auto f32 = weightsAsF32(weights, dequantized);
  if (!f32.ok())
    return f32.status();
  bound.f32 = std::move(*f32);
  size_t next = 0;
  for (size_t i = 0; i < names->size(); ++i) {
    if (kinds[first + i].dtype != ref::DType::I8) {
      bound.args.push_back(codegen::BufferRef::of(bound.f32[next++]));
      continue;
    }
    // The compiled code reads these bytes in the format the IR was built
    // for (storedWeightFormats of this very store, or a package's model).
    auto w = weights.get((*names)[i]);
    if (!w.ok())
      return w.status();
    codegen::BufferRef ref;
    ref.dtype = ref::DType::I8;
    ref.data = const_cast<uint8_t *>((*w)->data); // read only: a read_only to_buffer
    ref.shape = {static_cast<int64_t>((*w)->bytes)};
    bound.args.push_back(std::move(ref));
  }
  return bound;
}

std::map<std::string, std::string> storedWeightFormats(const frontends::ModelConfig &config,
                                                       const frontends::WeightStore &weights) {
  std::map<std::string, std::string> out;
  if (config.isMla())
    return out; // tessel.mla reads its projections itself
  for (const auto &[name, w] : weights.all()) {
    const char *format = w.type == frontends::WeightType::BF16   ? "bf16"
                         : w.type == frontends::WeightType::Q8_0 ? "q8_0"
                         : w.type == frontends::WeightType::Q4_0 ? "q4_0"
                                                                 : nullptr;
    if (!format || w.shape.size() != 2)
      continue;
    // Only what tessel-lower-to-kernels hands to a kernel as bytes: linear
    // layers (attention projections, the output) and the projections of a
    // gated FFN without biases in a dense layer.
    bool linear = name == "output.weight";
    int64_t layer = -1;
    std::string rest;
    if (absl::StartsWith(name, "blk.")) {
      size_t dot = name.find('.', 4);
      if (dot != std::string::npos && absl::SimpleAtoi(name.substr(4, dot - 4), &layer))
        rest = name.substr(dot + 1);
    }
    if (rest == "attn_q.weight" || rest == "attn_k.weight" || rest == "attn_v.weight" ||
        rest == "attn_output.weight")
      linear = true;
    if ((rest == "ffn_gate.weight" || rest == "ffn_up.weight" || rest == "ffn_down.weight") &&
        layer >= 0 && layer < config.numLayers && !config.layers[layer].moe &&
        config.activation != frontends::FfnActivation::Gelu &&
        weights.contains(absl::StrCat("blk.", layer, ".ffn_gate.weight")) &&
        !weights.contains(absl::StrCat("blk.", layer, ".ffn_up.bias")) &&
        !weights.contains(absl::StrCat("blk.", layer, ".ffn_down.bias")))
      linear = true;
    if (linear)
      out[name] = format;
  }
  return out;
}

} // namespace tessel::runtime
