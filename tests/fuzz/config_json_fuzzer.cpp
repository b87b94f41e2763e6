//===- config_json_fuzzer.cpp - HF config.json / Tessel model descriptions -===//
//
// Input: JSON text. configFromHfJson (strict, as for descriptions, and
// lenient, as for HF config.json) must answer with an error naming the
// source or a config whose expected weights can be listed. The text is also
// loaded as a description file by loadModel: config only, and with its
// random weights when it asks for them and they are small.
//
//===----------------------------------------------------------------------===//
#include <cstdint>
#include <cstdlib>

#include "FuzzCommon.h"
#include "FuzzSeeds.h"
#include "frontends/ModelConfig.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelWriter.h"
#include "nlohmann/json.hpp"

using namespace tessel::frontends;
using namespace tessel::fuzz;
using json = nlohmann::json;

namespace {

const char kName[] = "fuzz.json";

void writeSeeds(const std::string &dir) {
  for (const auto &[name, text] : exampleDescriptions())
    writeSeed(dir, name + ".json", text);
  // The HF config.json the writer produces for each architecture.
  for (const auto &[name, c] : exampleConfigs(16)) {
    std::string hf = scratchDir() + "/hf-" + name;
    WeightStore ws = randomWeights(c, 1, WeightType::F32, name);
    std::string text;
    if (writeHfModel(c, ws, hf).ok() && readFile(hf + "/config.json", text))
      writeSeed(dir, "hf-" + name + ".json", text);
  }
  // Fields the examples do not use.
  writeSeed(dir, "llama3-rope.json", R"({"model_type": "llama", "hidden_size": 64,
    "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
    "intermediate_size": 128, "max_position_embeddings": 256, "vocab_size": 64,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
    "high_freq_factor": 4.0, "original_max_position_embeddings": 128},
    "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2, "head_dim": 16,
    "weights": {"random": {"seed": 3, "dtype": "q8_0"}}})");
  writeSeed(dir, "linear-rope.json", R"({"model_type": "mistral", "hidden_size": 32,
    "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
    "max_position_embeddings": 64, "vocab_size": 32, "sliding_window": 8,
    "rope_scaling": {"type": "linear", "factor": 2.0},
    "layers": [{"sliding_window": 4}, {"moe": false}],
    "weights": {"random": {"seed": 1, "dtype": "bf16"}}})");
  writeSeed(dir, "qwen2.json", R"({"model_type": "qwen2", "hidden_size": 32,
    "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
    "intermediate_size": 64, "max_position_embeddings": 64, "vocab_size": 32,
    "use_sliding_window": true, "sliding_window": 16, "rms_norm_eps": 1e-6,
    "weights": {"random": {"seed": 1, "dtype": "f16"}}})");
  writeSeed(dir, "gpt2.json", R"({"model_type": "gpt2", "n_embd": 32, "n_layer": 1,
    "n_head": 2, "n_positions": 32, "n_inner": 64, "vocab_size": 32,
    "layer_norm_epsilon": 1e-5, "activation_function": "gelu_pytorch_tanh", "n_ctx": 32})");
  writeSeed(dir, "deepseek.json", R"({"model_type": "deepseek_v2", "hidden_size": 32,
    "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 64,
    "max_position_embeddings": 64, "vocab_size": 32, "q_lora_rank": 16,
    "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8,
    "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1,
    "moe_intermediate_size": 16, "first_k_dense_replace": 1, "moe_layer_freq": 2,
    "norm_topk_prob": true, "routed_scaling_factor": 1.5, "scoring_func": "sigmoid"})");
}

// Total values of the config's weights, or -1 past `limit` (no overflow).
int64_t weightValues(const ModelConfig &c, int64_t limit) {
  int64_t total = 0;
  for (const WeightSpec &w : expectedWeights(c)) {
    int64_t n = 1;
    for (int64_t d : w.shape) {
      if (d < 0 || (d > 0 && n > limit / d))
        return -1;
      n *= d;
    }
    if (n > limit - total)
      return -1;
    total += n;
  }
  return total;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  writeSeedsAndExitInSeedMode(writeSeeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json j = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return 0;

  bool small = false;
  for (bool strict : {true, false}) {
    auto c = configFromHfJson(j, kName, strict);
    if (!c.ok()) {
      checkError(c.status(), kName);
      continue;
    }
    FUZZ_CHECK(c->validate(kName).ok(), "an accepted config does not validate");
    FUZZ_CHECK(static_cast<int64_t>(c->layers.size()) == c->numLayers, "layers");
    // Listing the weights is what every loader does next.
    if (c->numLayers <= 4096)
      small = weightValues(*c, int64_t(1) << 22) >= 0;
  }

  // As a description file.
  std::string path = scratchFile("description.json", data, size);
  LoadOptions configOnly;
  configOnly.weights = false;
  auto m = loadModel(path, configOnly);
  if (!m.ok())
    checkError(m.status(), path);
  // Random weights only: a "weights" path would send the loader around the
  // file system.
  bool pathWeights = j.is_object() && j.contains("weights") && j["weights"].is_string();
  if (m.ok() && small && !pathWeights) {
    auto full = loadModel(path);
    if (!full.ok())
      checkError(full.status(), path);
  }
  return 0;
}
