//===- AttentionMap.cpp - `tessel run --attention_map` --------------------===//
#include "tools/tessel/AttentionMap.h"

#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "frontends/ModelLoader.h"
#include "frontends/tokenizer/Tokenizer.h"
#include "runtime/Evaluator.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Heatmap.h"

namespace tessel::cli {

absl::StatusOr<AttentionMapRequest> parseAttentionMap(const std::string &spec,
                                                      const std::string &out,
                                                      const frontends::ModelConfig &config) {
  auto bad = [&](const std::string &why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attention_map '", spec, "': ", why,
                     " (expected layer=L,head=H or layer=L,head=mean; the model has layers 0 to ",
                     config.numLayers - 1, " and heads 0 to ", config.numHeads - 1, ")"));
  };
  AttentionMapRequest request;
  bool haveLayer = false;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    const auto &[key, value] = kv;
    if (key == "layer") {
      if (!absl::SimpleAtoi(value, &request.layer) || request.layer < 0 ||
          request.layer >= config.numLayers)
        return bad("layer '" + value + "' is not a layer of the model");
      haveLayer = true;
    } else if (key == "head") {
      if (value == "mean")
        request.head = -1;
      else if (!absl::SimpleAtoi(value, &request.head) || request.head < 0 ||
               request.head >= config.numHeads)
        return bad("head '" + value + "' is not a head of the model");
    } else {
      return bad("unknown key '" + key + "'");
    }
  }
  if (!haveLayer)
    return bad("no layer given");
  if (config.isMla())
    return absl::UnimplementedError(
        "--attention_map: attention maps of MLA models (DeepSeek) are not supported yet");
  std::string ext = std::filesystem::path(out).extension().string();
  if (out.empty() || (ext != ".png" && ext != ".svg" && ext != ".csv"))
    return absl::InvalidArgumentError(
        absl::StrCat("--attention_map needs --out FILE ending in .png, .svg or .csv",
                     out.empty() ? "" : absl::StrCat(", got '", out, "'")));
  request.out = out;
  return request;
}

absl::StatusOr<std::string> writeAttentionMap(const AttentionMapRequest &request,
                                              const std::string &modelPath,
                                              const std::vector<int32_t> &tokens,
                                              const frontends::Tokenizer *tokenizer) {
  auto model = frontends::loadModel(modelPath);
  if (!model.ok())
    return model.status();
  const int64_t heads = model->config.numHeads, n = static_cast<int64_t>(tokens.size());
  auto evaluator = evaluatorFromFlags(std::move(*model), n, "tessel run", request.layer);
  if (!evaluator.ok())
    return evaluator.status();
  auto probs = (*evaluator)->attentionProbs(tokens);
  if (!probs.ok())
    return probs.status();

  Heatmap map;
  map.rows = map.cols = n;
  map.values.assign(n * n, 0.0f);
  for (int64_t h = 0; h < heads; ++h) {
    if (request.head >= 0 && h != request.head)
      continue;
    for (int64_t at = 0; at < n * n; ++at)
      map.values[at] += probs->f[h * n * n + at];
  }
  if (request.head < 0)
    for (float &v : map.values)
      v /= static_cast<float>(heads);
  for (int64_t i = 0; i < n; ++i) {
    // The vocabulary's piece, leading space included ("␣Once"); BOS and
    // other pieces that print as nothing get a name.
    std::string label = tokenizer ? tokenizer->piece(tokens[i]) : std::to_string(tokens[i]);
    if (tokenizer && tokens[i] == tokenizer->bos())
      label = "<bos>";
    else if (label.empty())
      label = absl::StrCat("<", tokens[i], ">");
    map.rowLabels.push_back(label);
    map.colLabels.push_back(label);
  }
  std::string which = request.head >= 0 ? absl::StrCat("head ", request.head)
                                        : absl::StrCat("mean of ", heads, " heads");
  map.title = absl::StrCat(std::filesystem::path(modelPath).filename().string(), ": layer ",
                           request.layer, ", ", which);
  if (absl::Status st = writeHeatmap(request.out, map); !st.ok())
    return st;
  return absl::StrCat("attention map: layer ", request.layer, ", ", which, ", ", n, " tokens (",
                      (*evaluator)->codeOrigin(), ") -> ", request.out);
}

} // namespace tessel::cli
