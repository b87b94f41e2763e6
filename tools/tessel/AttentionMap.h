//===- AttentionMap.h - `tessel run --attention_map` ------------*- C++ -*-===//
//
// What a layer's heads attend to, drawn as a heatmap (tools/tessel/Heatmap.h)
// over the tokens of a run: the prompt and what was generated. The
// probabilities come from compiled code: the model's instrumented
// @attention_probs entry point (runtime::EvaluatorOptions::attentionLayer),
// built only when a map is asked for, so generation itself is untouched.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_TOOLS_TESSEL_ATTENTIONMAP_H
#define TESSEL_TOOLS_TESSEL_ATTENTIONMAP_H

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessel::frontends {
class Tokenizer;
struct ModelConfig;
} // namespace tessel::frontends

namespace tessel::cli {

struct AttentionMapRequest {
  int64_t layer = 0;
  int64_t head = -1; // -1: the mean over heads
  std::string out;   // .png, .svg or .csv
};

/// Parses --attention_map "layer=L,head=H" or "layer=L,head=mean" (head
/// defaults to mean) against the model, with --out naming the file.
absl::StatusOr<AttentionMapRequest> parseAttentionMap(const std::string &spec,
                                                      const std::string &out,
                                                      const frontends::ModelConfig &config);

/// Compiles @attention_probs for the model at `modelPath` (with the
/// compile flags `tessel run` was given), evaluates it on `tokens` and
/// writes the map. Labels are the tokens' text (`tokenizer`) or their ids.
/// Returns a one-line description of what was written.
absl::StatusOr<std::string> writeAttentionMap(const AttentionMapRequest &request,
                                              const std::string &modelPath,
                                              const std::vector<int32_t> &tokens,
                                              const frontends::Tokenizer *tokenizer);

} // namespace tessel::cli

#endif // TESSEL_TOOLS_TESSEL_ATTENTIONMAP_H
