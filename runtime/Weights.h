//===- Weights.h - a model's weights as compiled code takes them -*- C++ -*-===//
//
// Compiled entry points take their weights as trailing arguments in the
// order JitModule::weightNames gives. A weight the IR stores (a `storage`
// format: bf16, q8_0, q4_0) is an i8 argument: the model file's own bytes
// are passed, not copied, and the kernels dequantize them. Every other
// weight is an f32 argument: an f32 tensor is passed in place too (the
// mapped file), any other type is dequantized once, here, at load.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_WEIGHTS_H
#define TESSEL_RUNTIME_WEIGHTS_H

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Jit.h"
#include "frontends/ModelConfig.h"
#include "frontends/ModelLoader.h"
#include "frontends/WeightStore.h"
#include "reference/Tensor.h"

namespace tessel::runtime {

/// The named weights as f32 tensors, in order; an error names a missing one.
absl::StatusOr<std::vector<ref::Tensor>> weightsAsF32(const frontends::WeightStore &weights,
                                                      const std::vector<std::string> &names);

/// The weights of one entry point, ready to pass: `args[i]` is weight i,
/// pointing into `f32` (owned, dequantized) or into the model's mapped
/// bytes, stored or f32 (the store must outlive it).
struct BoundWeights {
  std::vector<ref::Tensor> f32;
  std::vector<codegen::BufferRef> args;
};

/// Binds `function`'s weight arguments of `module`: i8 ones to the stored
/// bytes (checked against the tensor's size), f32 ones dequantized.
absl::StatusOr<BoundWeights> bindWeights(const frontends::WeightStore &weights,
                                         const codegen::JitModule &module,
                                         const std::string &function);

/// The weights to keep in their stored form when compiling `config` from
/// `weights`: name -> "bf16" / "q8_0" / "q4_0" for every bf16, q8_0 or
/// q4_0 matrix that only linear layers and gated FFNs read (the kernels
/// that can read them, the MoE kernel included); embeddings, MLA's
/// attention projections and norms stay f32.
std::map<std::string, std::string> storedWeightFormats(const frontends::ModelConfig &config,
                                                       const frontends::WeightStore &weights);

/// The same for the CUDA pipeline: the bf16 and f16 matrices (linear
/// layers and bias-free gated FFNs), which tessel-linear-to-gpu-mma
/// multiplies on tensor cores straight from their bytes. q8_0/q4_0
/// matrices are f32 on the device.
std::map<std::string, std::string> gpuStoredWeightFormats(const frontends::ModelConfig &config,
                                                          const frontends::WeightStore &weights);

/// `--quantize`: converts the f32 / f16 matrices the kernels can read in
/// stored form (those storedWeightFormats would pick) to `type` (bf16, q8_0
/// or q4_0), as llama.cpp's quantizer rounds; returns how many. The model's
/// other weights are untouched.
absl::StatusOr<int64_t> quantizeWeights(frontends::LoadedModel &model, frontends::WeightType type);

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_WEIGHTS_H
