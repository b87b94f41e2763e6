//===- Evaluator.h - teacher-forced logits from compiled code ---*- C++ -*-===//
//
// Quality tools need the logits at every position of a sequence, not only
// after the last token: `tessel logits` writes them, `tessel perplexity`
// scores a text with them. An Evaluator compiles the model's @forward entry
// point (frontends/ModelToIR.h: tokens and positions in, `[1, n, vocab]`
// logits out, no KV cache) through the same CPU pipeline as the Session,
// binds the weights (dequantized to f32 once) and evaluates a whole
// sequence in one call: one prefill, teacher-forced. For attention maps it
// compiles @attention_probs instead, the same model up to one layer's
// attention probabilities (EvaluatorOptions::attentionLayer).
//
// The code comes from the compile cache when `cacheDir` is set (the same
// cache `tessel run` uses; @forward is keyed by its own IR), else the JIT.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_EVALUATOR_H
#define TESSEL_RUNTIME_EVALUATOR_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Pipeline.h"
#include "frontends/ModelLoader.h"
#include "reference/Tensor.h"
#include "runtime/Weights.h"

namespace tessel::codegen {
class JitModule;
} // namespace tessel::codegen

namespace tessel::runtime {

struct EvaluatorOptions {
  /// The longest sequence logits() accepts (0: the model's context length).
  /// May exceed the length the model was trained for (llama.cpp only warns),
  /// except with learned position embeddings, which end there.
  int64_t context = 0;
  /// Root of the compile cache (codegen::compileCached); "" compiles with
  /// the JIT and keeps nothing.
  std::string cacheDir;
  /// How the CPU pipeline lowers the model (part of the compile-cache key).
  codegen::CpuOptions cpu;
  /// >= 0: compile @attention_probs for this layer instead of @forward, so
  /// that attentionProbs() (not logits()) can be called: the instrumented
  /// entry point attention maps read.
  int64_t attentionLayer = -1;
};

class Evaluator {
public:
  static absl::StatusOr<std::unique_ptr<Evaluator>> create(frontends::LoadedModel model,
                                                           const EvaluatorOptions &options = {});
  ~Evaluator();

  const frontends::LoadedModel &model() const { return model_; }
  int64_t vocabSize() const { return model_.config.vocabSize; }
  /// The longest sequence logits() accepts.
  int64_t context() const { return context_; }
  double compileSeconds() const { return compileSeconds_; }
  /// Where the code came from: "JIT", "cache hit: DIR" or "cache miss, saved to DIR".
  const std::string &codeOrigin() const { return codeOrigin_; }
  /// Why the compile cache could not be used or was repaired ("" otherwise).
  const std::string &cacheNote() const { return cacheNote_; }

  /// Logits `f32[tokens.size(), vocab]` (row-major) for `tokens` at
  /// positions 0, 1, ..., each row the model's prediction after the tokens
  /// up to and including that position. Token ids and the length are
  /// checked first (the compiled gather does not bounds-check).
  absl::StatusOr<ref::Tensor> logits(const std::vector<int32_t> &tokens);

  /// With `attentionLayer` set: that layer's attention probabilities
  /// `f32[heads, tokens.size(), tokens.size()]` (query row, key column) for
  /// `tokens` at positions 0, 1, ..., computed by the compiled code.
  absl::StatusOr<ref::Tensor> attentionProbs(const std::vector<int32_t> &tokens);

private:
  Evaluator() = default;
  frontends::LoadedModel model_;
  std::unique_ptr<codegen::JitModule> jit_;
  BoundWeights weights_; // the entry point's trailing arguments (stored bytes or f32)
  std::string entry_ = "forward"; // the compiled entry point
  int64_t context_ = 0;
  double compileSeconds_ = 0;
  std::string codeOrigin_ = "JIT", cacheNote_;

  // The entry point's result for `tokens`, after checking them.
  absl::StatusOr<ref::Tensor> evaluate(const std::vector<int32_t> &tokens,
                                       const std::string &entry);
};

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_EVALUATOR_H
