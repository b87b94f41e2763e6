//===- Weights.h - a model's weights as compiled code takes them -*- C++ -*-===//
//
// Compiled entry points take their weights as trailing arguments in the
// order JitModule::weightNames gives. A weight the IR stores (a `storage`
// format: bf16, q8_0, q4_0) is an i8 argument holding the model file's
// own bytes, which the kernels dequantize. Every other weight is an f32
// argument, dequantized once, here, at load when the file has another
// type. Both are copied onto huge pages, or passed in place.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_WEIGHTS_H
#define TESSEL_RUNTIME_WEIGHTS_H

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Jit.h"
#include "frontends/ModelConfig.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelToIR.h"
#include "frontends/WeightStore.h"
#include "reference/Tensor.h"

namespace tessel::runtime {

/// Where bound weights live. kHugePages: copied (stored bytes and f32
/// values; other types dequantized) into one anonymous mapping on 2 MiB
/// pages, which streams faster than the mapped file's 4 KiB pages (the
/// hardware prefetchers stop at page boundaries; fewer TLB misses).
/// kInPlace: the mapped file's stored bytes and f32 values as they are (no
/// copy, no extra memory; what the CUDA session uploads from).
enum class WeightPlacement { kHugePages, kInPlace };

/// The weights of one entry point, ready to pass: `args[i]` is weight i,
/// pointing into `memory` or, in place, into the model's mapped bytes (the
/// store must outlive it).
struct BoundWeights {
  std::shared_ptr<void> memory;
  std::vector<codegen::BufferRef> args;
};

/// Binds `function`'s weight arguments of `module`: i8 ones to the stored
/// bytes, f32 ones to f32 values (dequantized when the file has another
/// type), placed as `placement` says.
absl::StatusOr<BoundWeights> bindWeights(const frontends::WeightStore &weights,
                                         const codegen::JitModule &module,
                                         const std::string &function,
                                         WeightPlacement placement = WeightPlacement::kHugePages);

/// The weights to keep in their stored form when compiling `config` from
/// `weights`: name -> "bf16" / "q8_0" / "q4_0" for every bf16, q8_0 or
/// q4_0 matrix that only linear layers, gated FFNs and MoE experts read
/// (the kernels that can read them); embeddings, norms and MLA's attn_kv_b
/// (split per head for decode's einsums) stay f32.
std::map<std::string, std::string> storedWeightFormats(const frontends::ModelConfig &config,
                                                       const frontends::WeightStore &weights);

/// The same for the CUDA pipeline: the bf16 and f16 matrices (linear
/// layers and bias-free gated FFNs), which tessel-linear-to-gpu-mma
/// multiplies on tensor cores straight from their bytes. q8_0/q4_0
/// matrices are f32 on the device.
std::map<std::string, std::string> gpuStoredWeightFormats(const frontends::ModelConfig &config,
                                                          const frontends::WeightStore &weights);

/// The `input_format` of the layers on the weights of `stored`
/// (storedWeightFormats), frontends::EntryPoints::inputFormats: "q8_0" for
/// the q8_0 / q4_0 ones with `q8` (CpuOptions::q8Activations), "bf16" for
/// the bf16 ones with `bf16` (CpuOptions::bf16Activations).
std::map<std::string, std::string>
roundedInputFormats(const std::map<std::string, std::string> &stored, bool q8, bool bf16);

/// How every compile of `model` builds its IR, for the CPU or (`cuda`) the
/// CUDA pipeline: the weights kept stored (storedWeightFormats or
/// gpuStoredWeightFormats), the layers whose inputs are rounded to q8_0
/// (CPU with CpuOptions::q8Activations) and whether layers are shared block
/// functions (CPU, unless profiling: the profiler names ops by layer).
/// Callers pick the entry points and the cache length.
frontends::EntryPoints entryPointsFor(const frontends::LoadedModel &model,
                                      const codegen::CpuOptions &cpu, bool cuda);

/// `--quantize`: converts the f32 / f16 matrices the kernels can read in
/// stored form (those storedWeightFormats would pick) to `type` (bf16, q8_0
/// or q4_0), as llama.cpp's quantizer rounds; returns how many. The model's
/// other weights are untouched.
absl::StatusOr<int64_t> quantizeWeights(frontends::LoadedModel &model, frontends::WeightType type);

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_WEIGHTS_H
