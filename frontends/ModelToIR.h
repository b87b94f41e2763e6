//===- ModelToIR.h - ModelConfig -> tessel IR -------------------*- C++ -*-===//
//
// Builds the model's entry points in the tessel dialect:
//
//   func.func @forward(%tokens: tensor<1x?xi64>, %positions: tensor<1x?xi64>)
//       -> tensor<1x?xVOCABxf32>
//
// evaluates a whole sequence at once (teacher-forced) and returns the logits
// at every position;
//
//   func.func @step(%tokens: tensor<1x?xi64>, %positions: tensor<1x?xi64>,
//                   %fill: i64,
//                   %k_cache.0, %v_cache.0, ...: tensor<1xROWSxKVHxHDxf32>
//                       {bufferization.writable = true})
//       -> (tensor<1x1xVOCABxf32>, caches...)
//
// is prefill and decode with a KV cache: it writes the new tokens' keys and
// values after the `fill` rows the caches hold, attends over those
// fill + seq_len rows (in order: the causal and window rules count from
// the first row) and returns the last position's logits. `positions` are
// the tokens' absolute positions (RoPE); they equal fill + i unless the
// runtime rolls a sliding-window cache (runtime/Session.cpp). Compiled, the caches are updated in
// place and only the logits are returned. With EntryPoints::shareLayers each layer is a call
// of a private @block_N function (layers built alike share one). Weights are `tessel.weight` ops
// named as in GGUF, so the IR does not depend on the file format; every op's location names the
// model file and the layer/tensor it comes from.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_MODELTOIR_H
#define TESSEL_FRONTENDS_MODELTOIR_H

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontends/ModelConfig.h"

namespace mlir {
class MLIRContext;
class ModuleOp;
template <typename OpTy> class OwningOpRef;
} // namespace mlir

namespace tessel::frontends {

/// Loads the dialects the model IR uses into `context`.
void loadModelDialects(mlir::MLIRContext &context);

/// Which entry points to build.
struct EntryPoints {
  bool forward = true;
  bool step = true;
  /// Rows of each KV cache (0: the model's context length).
  int64_t cacheLength = 0;
  /// >= 0: also build @attention_probs(tokens, positions) -> [1, heads,
  /// seq, seq], the attention probabilities of this layer's heads (the
  /// model up to that layer's attention; for attention maps). Not for MLA.
  int64_t attentionProbsLayer = -1;
  /// Weights the compiled code reads in their stored form: name -> "bf16",
  /// "q8_0" or "q4_0" (the `storage` of their tessel.weight ops; see
  /// runtime::storedWeightFormats for which ones qualify).
  std::map<std::string, std::string> storedWeights;
  /// Weights whose products round their input rows first: name ->
  /// `input_format` ("q8_0" or "bf16"). A linear layer on one of them, and
  /// a dense FFN, MLA or MoE layer all of whose matrices are listed with
  /// one format, get that `input_format`. runtime::roundedInputFormats
  /// picks the stored q8_0 / q4_0 ones (q8_0: their kernels multiply in
  /// integers) and the stored bf16 ones (bf16: `vdpbf16ps`).
  std::map<std::string, std::string> inputFormats;
  /// @forward and @step call each layer as a private block function
  /// (@block_N) instead of spelling every layer out; layers whose blocks
  /// are the same share one, so a model's code does not grow with its depth.
  /// Block weights are named relative to the layer ("attn_q.weight") and
  /// each call carries `tessel.weight_prefix` ("blk.3."); see
  /// tessel-weights-to-arguments. Off for the reference interpreter, the
  /// profiler (which names ops by layer) and the CUDA pipeline.
  bool shareLayers = false;
};

/// Whether @step can be built (every attention kind has a cached form).
bool supportsKvCache(const ModelConfig &config);

/// The shapes of @step's cache arguments, in order: per layer a K and a V
/// cache [1, cacheLength, kv_heads, head_dim], or for MLA one latent cache
/// [1, cacheLength, 1, kv_lora_rank + qk_rope_dim] (the compressed latent
/// and the RoPE key: all MLA keeps per token).
std::vector<std::vector<int64_t>> kvCacheShapes(const ModelConfig &config, int64_t cacheLength);

/// Builds and verifies the module; `source` names the model file in locations.
absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> buildModelModule(mlir::MLIRContext &context,
                                                                   const ModelConfig &config,
                                                                   const std::string &source,
                                                                   const EntryPoints &entries = {});

/// The module as text (`debugInfo` prints the locations too).
absl::StatusOr<std::string> modelToMlir(const ModelConfig &config, const std::string &source,
                                        bool debugInfo = false, const EntryPoints &entries = {});

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_MODELTOIR_H
