//===- ModelLoader.h - any model file -> config + weights -------*- C++ -*-===//
//
// One entry point for every format a user can hand Tessel:
//   * a `.gguf` file;
//   * a Hugging Face folder (`config.json` + `*.safetensors`, sharded or not);
//   * a llama2.c `.bin` checkpoint (its tokenizer.bin found beside it);
//   * a Tessel model description (`.json`, HF config conventions plus
//     per-layer overrides and a `weights` field: a path or random weights).
// The result is checked: every weight the config implies is present with
// the right shape and a usable type, and nothing unexpected is left over.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_MODELLOADER_H
#define TESSEL_FRONTENDS_MODELLOADER_H

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "frontends/Gguf.h"
#include "frontends/ModelConfig.h"
#include "frontends/WeightStore.h"

namespace tessel::frontends {

enum class ModelFormat { Gguf, HuggingFace, Llama2c, Description };
const char *formatName(ModelFormat f);

struct LoadedModel {
  std::string path;
  ModelFormat format = ModelFormat::Gguf;
  ModelConfig config;
  WeightStore weights;
  std::unique_ptr<GgufFile> gguf; // GGUF sources: metadata (tokenizer) lives here
  std::string tokenizerPath;      // llama2.c tokenizer.bin or HF tokenizer.json, if found
};

struct LoadOptions {
  bool weights = true; // false: config only (e.g. --emit=tessel of a description)
  /// false: a description's random weights get their names, types, shapes
  /// and byte counts but no values (`data` is null): what compiling needs,
  /// without generating gigabytes of numbers.
  bool randomValues = true;
};

absl::StatusOr<LoadedModel> loadModel(const std::string &path, const LoadOptions &options = {});

/// Random weights for `config` (deterministic in `seed`): matrices uniform
/// with variance 1/fan_in, norm weights 1, biases 0, stored as `type`.
/// Without `withValues` only names, types, shapes and byte counts are filled.
WeightStore randomWeights(const ModelConfig &config, uint64_t seed, WeightType type,
                          const std::string &source, bool withValues = true);

/// Checks `store` against `expectedWeights(config)`.
absl::Status checkWeights(const ModelConfig &config, const WeightStore &store);

/// Llama 3 RoPE scaling as per-pair frequency divisors (`rope_freqs.weight`).
std::vector<float> llama3FreqFactors(int64_t headDim, double theta, double factor,
                                     double lowFreqFactor, double highFreqFactor,
                                     int64_t originalContext);

/// The Hugging Face name of a canonical weight ("" if it has none, e.g.
/// stacked experts), and whether HF stores it transposed (GPT-2's Conv1D).
struct HfName {
  std::string name;
  bool transposed = false;
};
HfName hfWeightName(const ModelConfig &config, const std::string &canonical);
/// The Hugging Face name of expert `expert`'s `which` ("gate", "up",
/// "down") matrix in `layer` (Mixtral's w1/w3/w2, DeepSeek's *_proj).
std::string hfExpertName(const ModelConfig &config, int layer, const std::string &which,
                         int64_t expert);

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_MODELLOADER_H
