//===- ModelConfig.h - one description of a decoder model -------*- C++ -*-===//
//
// Every source (GGUF metadata, HF config.json, a llama2.c header, a Tessel
// model description) is normalised into ModelConfig; everything downstream
// (the IR builder, weight checks, mkmodel) reads only this struct.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_MODELCONFIG_H
#define TESSEL_FRONTENDS_MODELCONFIG_H

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessel::frontends {

class GgufFile;

enum class ModelArch { Llama, Mistral, Qwen2, Mixtral, Deepseek2, Gpt2, Gemma };
enum class NormKind { RMSNorm, LayerNorm };
enum class RopeStyle { None, Interleaved, HalfSplit };
enum class FfnActivation { SwiGLU, GeGLU, Gelu };
enum class RouterScoring { Softmax, Sigmoid };

/// "llama", "mistral", "qwen2", "mixtral", "deepseek2", "gpt2", "gemma".
const char *archName(ModelArch arch);
/// The list above as one string, for error messages.
std::string supportedArchitectures();

/// What may differ from layer to layer.
struct LayerSpec {
  bool moe = false;   // routed experts instead of a dense FFN
  int64_t window = 0; // sliding attention window; 0 = full causal
};

struct ModelConfig {
  ModelArch arch = ModelArch::Llama;
  int64_t vocabSize = 0, dim = 0, numLayers = 0, numHeads = 0, numKvHeads = 0, headDim = 0;
  int64_t ffnHidden = 0, contextLength = 0;

  NormKind norm = NormKind::RMSNorm;
  double normEps = 1e-5;
  bool normUnitOffset = false; // Gemma (HF): scale by (1 + w)

  RopeStyle rope = RopeStyle::Interleaved;
  double ropeTheta = 10000.0;
  int64_t ropeDim = 0; // 0 = the whole head
  double ropeLinearScaling = 1.0;
  bool ropeFreqFactors = false;  // weight "rope_freqs.weight" holds Llama 3 factors
  bool learnedPositions = false; // GPT-2: position_embd.weight

  bool qkvBias = false;    // Qwen2, GPT-2
  bool outputBias = false; // GPT-2: attention output and FFN biases
  FfnActivation activation = FfnActivation::SwiGLU;
  bool geluTanh = false;
  bool tiedEmbeddings = false;
  double embeddingScale = 1.0; // Gemma: sqrt(dim)

  // Mixture of experts (Mixtral, DeepSeek).
  int64_t numExperts = 0, expertsPerToken = 0, expertFfnHidden = 0, numSharedExperts = 0;
  RouterScoring scoring = RouterScoring::Softmax;
  bool normalizeTopK = true;
  double routedScale = 1.0;

  // Multi-head latent attention (DeepSeek-V2/V3).
  int64_t qLoraRank = 0, kvLoraRank = 0, qkNopeDim = 0, qkRopeDim = 0, vHeadDim = 0;

  std::vector<LayerSpec> layers; // numLayers entries

  int64_t bosToken = -1, eosToken = -1;

  bool isMla() const { return arch == ModelArch::Deepseek2; }
  /// Dimensions agree (heads divide, ranks positive, ...); errors name the field.
  absl::Status validate(const std::string &source) const;
};

/// One expected weight: canonical (GGUF) name and shape, outermost first.
struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
};
/// Every weight the model needs, in a stable order.
std::vector<WeightSpec> expectedWeights(const ModelConfig &config);

absl::StatusOr<ModelConfig> configFromGguf(const GgufFile &file);
/// `json` is an HF config.json (or a Tessel description, which extends it);
/// `source` names the file in errors. With `strict`, unknown keys are errors.
absl::StatusOr<ModelConfig> configFromHfJson(const nlohmann::json &json, const std::string &source,
                                             bool strict);

/// A JSON value as it may appear in an error message: scalars quoted (cut
/// to 60 characters), containers named by type.
std::string briefJson(const nlohmann::json &value);

/// Parses JSON text; errors (syntax, nesting deeper than 64 levels) name
/// `source`. The depth limit keeps hostile files from exhausting the stack.
absl::StatusOr<nlohmann::json> parseJsonText(const std::string &text, const std::string &source);

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_MODELCONFIG_H
