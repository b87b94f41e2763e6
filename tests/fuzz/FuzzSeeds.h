//===- FuzzSeeds.h - small valid models to start fuzzing from ---*- C++ -*-===//
//
// The example model descriptions (examples/models/*.json), shrunk to a
// small vocabulary, give one config per supported architecture; the seed
// writers turn them into GGUF / safetensors / config.json files with the
// project's own writers, so the seeds follow the writers as they evolve.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_TESTS_FUZZ_FUZZSEEDS_H
#define TESSEL_TESTS_FUZZ_FUZZSEEDS_H

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "FuzzCommon.h"
#include "frontends/ModelConfig.h"
#include "nlohmann/json.hpp"

namespace tessel::fuzz {

/// examples/models/*.json, sorted by name: (file stem, raw text).
inline std::vector<std::pair<std::string, std::string>> exampleDescriptions() {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(sourceDir()) / "examples" / "models";
  for (const auto &e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".json")
      continue;
    std::string text;
    if (readFile(e.path().string(), text))
      out.emplace_back(e.path().stem().string(), text);
  }
  std::sort(out.begin(), out.end());
  if (out.empty())
    std::fprintf(stderr, "fuzz seeds: no examples in %s (set TESSEL_SOURCE_DIR)\n",
                 dir.string().c_str());
  return out;
}

/// The example configs shrunk to tiny sizes (hidden 16, vocabulary
/// `vocab`, ...) with their architecture features kept, so that the seed
/// files stay a few KB and the fuzzers run fast.
inline std::vector<std::pair<std::string, frontends::ModelConfig>> exampleConfigs(int64_t vocab) {
  static const std::pair<const char *, int64_t> kTiny[] = {
      {"hidden_size", 16},          {"n_embd", 16},
      {"intermediate_size", 8},     {"n_inner", 16},
      {"moe_intermediate_size", 4}, {"max_position_embeddings", 8},
      {"n_positions", 8},           {"head_dim", 4},
      {"kv_lora_rank", 8},          {"qk_nope_head_dim", 4},
      {"qk_rope_head_dim", 2},      {"v_head_dim", 4}};
  std::vector<std::pair<std::string, frontends::ModelConfig>> out;
  for (const auto &[name, text] : exampleDescriptions()) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      continue;
    j["vocab_size"] = vocab;
    for (const auto &[key, value] : kTiny)
      if (j.contains(key))
        j[key] = value;
    if (j.contains("q_lora_rank") && j["q_lora_rank"].is_number() && j["q_lora_rank"] > 0)
      j["q_lora_rank"] = 8;
    auto c = frontends::configFromHfJson(j, name, /*strict=*/false);
    if (c.ok())
      out.emplace_back(name, *c);
    else
      std::fprintf(stderr, "fuzz seeds: %s shrunk: %s\n", name.c_str(), msgOf(c.status()).c_str());
  }
  return out;
}

} // namespace tessel::fuzz

#endif // TESSEL_TESTS_FUZZ_FUZZSEEDS_H
