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
  // f32 weights stored as f32 are passed in place (the mapped file, read
  // only): copying a 1B-parameter model's 5 GB cost more than compiling it.
  // The rest of the f32 arguments are dequantized into owned tensors.
  auto inPlace = [](const frontends::WeightTensor &w) {
    return w.type == frontends::WeightType::F32 &&
           reinterpret_cast<uintptr_t>(w.data) % alignof(float) == 0;
  };
  std::vector<std::string> dequantized;
  for (size_t i = 0; i < names->size(); ++i) {
    if (kinds[first + i].dtype == ref::DType::I8)
      continue;
    auto w = weights.get((*names)[i]);
    if (!w.ok())
      return w.status();
    if (!inPlace(**w))
      dequantized.push_back((*names)[i]);
  }
  BoundWeights bound;
  auto f32 = weightsAsF32(weights, dequantized);
  if (!f32.ok())
    return f32.status();
  bound.f32 = std::move(*f32);
  size_t next = 0;
  for (size_t i = 0; i < names->size(); ++i) {
    if (kinds[first + i].dtype != ref::DType::I8) {
      const frontends::WeightTensor &w = **weights.get((*names)[i]);
      if (inPlace(w))
        // Read only: the compiled code never writes a weight argument.
        bound.args.push_back({ref::DType::F32, const_cast<uint8_t *>(w.data), w.shape});
      else
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

namespace {

// Whether tessel-lower-to-kernels hands weight `name` to a kernel as bytes
// when it is stored: linear layers (attention projections, the output), the
// projections of a gated FFN without biases in a dense layer, and with
// `moeExperts` (the CPU's MoE kernel; not the GPU's) the experts' stacks and
// shared experts of a MoE layer. MLA reads its attention projections inside
// tessel.mla, so those stay f32.
bool kernelsReadStored(const frontends::ModelConfig &config, const frontends::WeightStore &weights,
                       const std::string &name, const frontends::WeightTensor &w, bool moeExperts) {
  int64_t layer = -1;
  std::string rest;
  if (absl::StartsWith(name, "blk.")) {
    size_t dot = name.find('.', 4);
    if (dot != std::string::npos && absl::SimpleAtoi(name.substr(4, dot - 4), &layer))
      rest = name.substr(dot + 1);
  }
  const bool moeLayer = layer >= 0 && layer < config.numLayers && config.layers[layer].moe;
  if (moeExperts && moeLayer &&
      (((rest == "ffn_up_exps.weight" || rest == "ffn_gate_exps.weight" ||
         rest == "ffn_down_exps.weight") &&
        w.shape.size() == 3) ||
       ((rest == "ffn_up_shexp.weight" || rest == "ffn_gate_shexp.weight" ||
         rest == "ffn_down_shexp.weight") &&
        w.shape.size() == 2)))
    return true;
  if (w.shape.size() != 2)
    return false;
  if (name == "output.weight")
    return true;
  if (rest == "attn_q.weight" || rest == "attn_k.weight" || rest == "attn_v.weight" ||
      rest == "attn_output.weight")
    return !config.isMla();
  return (rest == "ffn_gate.weight" || rest == "ffn_up.weight" || rest == "ffn_down.weight") &&
         layer >= 0 && layer < config.numLayers && !moeLayer &&
         config.activation != frontends::FfnActivation::Gelu &&
         weights.contains(absl::StrCat("blk.", layer, ".ffn_gate.weight")) &&
         !weights.contains(absl::StrCat("blk.", layer, ".ffn_up.bias")) &&
         !weights.contains(absl::StrCat("blk.", layer, ".ffn_down.bias"));
}

const char *storedFormatName(frontends::WeightType type) {
  switch (type) {
  case frontends::WeightType::BF16:
    return "bf16";
  case frontends::WeightType::Q8_0:
    return "q8_0";
  case frontends::WeightType::Q4_0:
    return "q4_0";
  default:
    return nullptr;
  }
}

} // namespace

std::map<std::string, std::string> storedWeightFormats(const frontends::ModelConfig &config,
                                                       const frontends::WeightStore &weights) {
  std::map<std::string, std::string> out;
  for (const auto &[name, w] : weights.all())
    if (const char *format = storedFormatName(w.type);
        format && kernelsReadStored(config, weights, name, w, /*moeExperts=*/true))
      out[name] = format;
  return out;
}

std::map<std::string, std::string> gpuStoredWeightFormats(const frontends::ModelConfig &config,
                                                          const frontends::WeightStore &weights) {
  std::map<std::string, std::string> out;
  for (const auto &[name, w] : weights.all()) {
    const char *format = w.type == frontends::WeightType::BF16  ? "bf16"
                         : w.type == frontends::WeightType::F16 ? "f16"
                                                                : nullptr;
    if (format && kernelsReadStored(config, weights, name, w, /*moeExperts=*/false))
      out[name] = format;
  }
  return out;
}

absl::StatusOr<int64_t> quantizeWeights(frontends::LoadedModel &model, frontends::WeightType type) {
  // f16 only the GPU's kernels read (the CPU's dequantize it at load).
  if (!storedFormatName(type) && type != frontends::WeightType::F16)
    return absl::InvalidArgumentError(
        absl::StrCat("--quantize: ", frontends::weightTypeInfo(type).name,
                     " is not a format the kernels read (bf16, f16, q8_0 or q4_0)"));
  const int64_t block = frontends::weightTypeInfo(type).blockElems;
  std::vector<frontends::WeightTensor> converted;
  for (const auto &[name, w] : model.weights.all()) {
    const bool wide = w.type == frontends::WeightType::F32 || w.type == frontends::WeightType::F16;
    if (!wide || !kernelsReadStored(model.config, model.weights, name, w, /*moeExperts=*/true) ||
        w.shape.back() % block != 0)
      continue;
    frontends::WeightTensor q = w;
    q.type = type;
    if (!w.data) { // a description loaded without values: the type is what counts
      q.bytes = frontends::storageBytes(type, w.numel()).value();
      converted.push_back(std::move(q));
      continue;
    }
    std::vector<float> values = w.toF32();
    auto bytes = std::make_shared<std::vector<uint8_t>>(
        frontends::storageBytes(type, values.size()).value());
    frontends::quantizeRow(type, values.data(), bytes->data(), static_cast<int64_t>(values.size()));
    q.data = bytes->data();
    q.bytes = bytes->size();
    q.owner = bytes;
    converted.push_back(std::move(q));
  }
  for (frontends::WeightTensor &q : converted)
    model.weights.add(std::move(q));
  return static_cast<int64_t>(converted.size());
}

} // namespace tessel::runtime
