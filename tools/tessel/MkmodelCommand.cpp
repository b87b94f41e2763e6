//===- MkmodelCommand.cpp - `tessel mkmodel` ------------------------------===//
//
// Writes a random-weight model described by a Tessel model description, as
// GGUF (llama.cpp loads it) or as a Hugging Face directory (config.json +
// safetensors).
//
//===----------------------------------------------------------------------===//
#include <cstdio>
#include <fstream>

#include "absl/flags/flag.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelWriter.h"
#include "nlohmann/json.hpp"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {

int runMkmodel(const std::vector<std::string> &args) {
  std::string out = absl::GetFlag(FLAGS_o);
  if (args.size() != 1 || out.empty()) {
    std::fprintf(stderr, "tessel mkmodel: expected DESCRIPTION.json and -o OUT (a .gguf file, or a "
                         "directory with --format safetensors); run 'tessel mkmodel --help'\n");
    return 2;
  }
  auto fail = [](const absl::Status &st) {
    std::fprintf(stderr, "tessel mkmodel: %s\n", std::string(st.message()).c_str());
    return 1;
  };
  auto model = frontends::loadModel(args[0], {.weights = false});
  if (!model.ok())
    return fail(model.status());
  // Seed and type: flags override the description's "weights.random".
  auto described = frontends::loadModel(args[0]);
  if (!described.ok())
    return fail(described.status());
  frontends::WeightStore weights = std::move(described->weights);
  if (absl::GetFlag(FLAGS_seed) >= 0 || !absl::GetFlag(FLAGS_dtype).empty()) {
    auto type = frontends::parseWeightType(
        absl::GetFlag(FLAGS_dtype).empty() ? "f32" : absl::GetFlag(FLAGS_dtype));
    if (!type.ok())
      return fail(type.status());
    // --dtype alone keeps the description's seed, so that `--dtype q8_0` is
    // the quantized twin of the plain model (quality comparisons rely on it).
    int64_t seed = absl::GetFlag(FLAGS_seed);
    if (seed < 0) {
      seed = 0;
      std::ifstream in(args[0]);
      nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("weights") && j["weights"].is_object() &&
          j["weights"].contains("random") && j["weights"]["random"].is_object() &&
          j["weights"]["random"].contains("seed") &&
          j["weights"]["random"]["seed"].is_number_integer())
        seed = std::max<int64_t>(j["weights"]["random"]["seed"].get<int64_t>(), 0);
    }
    weights = frontends::randomWeights(model->config, static_cast<uint64_t>(seed), *type, args[0]);
  }
  std::string format = absl::GetFlag(FLAGS_format);
  absl::Status st;
  if (format == "gguf") {
    frontends::GgufWriteOptions options;
    std::unique_ptr<frontends::GgufFile> vocab;
    if (!absl::GetFlag(FLAGS_vocab_from).empty()) {
      auto v = frontends::GgufFile::open(absl::GetFlag(FLAGS_vocab_from));
      if (!v.ok())
        return fail(v.status());
      vocab = std::move(*v);
      options.vocabFrom = vocab.get();
    }
    st = frontends::writeGgufModel(model->config, weights, out, options);
  } else if (format == "safetensors") {
    st = frontends::writeHfModel(model->config, weights, out);
  } else {
    std::fprintf(stderr, "tessel mkmodel: --format=%s: expected gguf or safetensors\n",
                 format.c_str());
    return 2;
  }
  if (!st.ok())
    return fail(st);
  std::fprintf(stderr, "wrote %s (%s, %s)\n", out.c_str(), frontends::archName(model->config.arch),
               format.c_str());
  return 0;
}

} // namespace tessel::cli
