//===- ModelEvaluator.h - a loaded model through the reference --*- C++ -*-===//
//
// Builds a model's tessel IR, binds its `tessel.weight` ops to the loaded
// weights (dequantized once to f32) and runs it with the reference
// evaluator: the oracle for the compiled model, and a slow but obviously
// correct way to get logits or a greedy continuation.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_REFERENCE_MODELEVALUATOR_H
#define TESSEL_REFERENCE_MODELEVALUATOR_H

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontends/ModelLoader.h"
#include "reference/Interpreter.h"

namespace tessel::ref {

class ModelEvaluator {
public:
  /// `model` must outlive the evaluator. Layers on the weights named in
  /// `inputFormats` round their inputs to that format (q8_0 or bf16;
  /// frontends::EntryPoints::inputFormats), as the compiled model does with
  /// runtime::roundedInputFormats.
  static absl::StatusOr<std::unique_ptr<ModelEvaluator>>
  create(const frontends::LoadedModel &model, std::map<std::string, std::string> inputFormats = {});

  /// Logits `[tokens.size(), vocab]` for `tokens` at positions 0, 1, ...
  absl::StatusOr<Tensor> forward(const std::vector<int32_t> &tokens) const;

  /// The attention probabilities `[heads, tokens.size(), tokens.size()]` of
  /// `layer` for `tokens` at positions 0, 1, ... (the oracle for attention
  /// maps; frontends::EntryPoints::attentionProbsLayer).
  absl::StatusOr<Tensor> attentionProbs(const std::vector<int32_t> &tokens, int64_t layer) const;

  /// `prompt` followed by `n` greedily chosen tokens (recomputing the whole
  /// sequence each step: the reference has no KV cache).
  absl::StatusOr<std::vector<int32_t>> greedy(std::vector<int32_t> prompt, int n) const;

private:
  ModelEvaluator(const frontends::LoadedModel &model, std::unique_ptr<ReferenceProgram> program,
                 std::map<std::string, std::string> inputFormats);
  const frontends::LoadedModel &model_;
  std::map<std::string, std::string> inputFormats_;
  std::unique_ptr<ReferenceProgram> program_;
  mutable std::map<std::string, Tensor> weights_; // dequantized on first use
  mutable std::map<int64_t, std::unique_ptr<ReferenceProgram>> probePrograms_; // per layer

  // The first result of `entry` for `tokens` at positions 0, 1, ...
  absl::StatusOr<Tensor> run(const ReferenceProgram &program, const std::string &entry,
                             const std::vector<int32_t> &tokens) const;
};

} // namespace tessel::ref

#endif // TESSEL_REFERENCE_MODELEVALUATOR_H
