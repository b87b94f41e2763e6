//===- Session.h - a compiled model ready to generate -----------*- C++ -*-===//
//
// Loads a model, compiles its @step entry point (prefill and decode with a
// KV cache, see frontends/ModelToIR.h) through the CPU pipeline, binds the
// weights once and owns the caches, which the compiled code updates in
// place. Models without a KV cache form yet (MLA) fall back to @forward,
// re-evaluating the whole sequence for each new token.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_SESSION_H
#define TESSEL_RUNTIME_SESSION_H

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontends/ModelLoader.h"
#include "reference/Tensor.h"

namespace tessel::codegen {
class JitModule;
struct BufferRef;
} // namespace tessel::codegen

namespace tessel::runtime {

struct SessionOptions {
  /// Tokens the KV cache holds (0: the model's context length). May exceed
  /// the length the model was trained for (as llama.cpp's -c may), except
  /// with learned position embeddings, which end there.
  int64_t context = 0;
};

class Session {
public:
  static absl::StatusOr<std::unique_ptr<Session>> create(frontends::LoadedModel model,
                                                         const SessionOptions &options = {});
  ~Session();

  const frontends::LoadedModel &model() const { return model_; }
  double compileSeconds() const { return compileSeconds_; }
  /// Whether generation uses a KV cache (false: the sequence is re-evaluated).
  bool hasKvCache() const { return !caches_.empty(); }
  /// Bytes held by the KV cache (sized from the model's context length).
  int64_t kvCacheBytes() const;

  /// How many tokens fit (prompt and generated together).
  int64_t context() const { return context_; }
  /// Tokens evaluated so far (the KV cache's fill level).
  int64_t position() const { return static_cast<int64_t>(history_.size()); }
  /// Forgets every token (the cache contents are simply overwritten later).
  void reset() { history_.clear(); }

  /// Appends `tokens` at position() (a prompt to prefill, or the one token
  /// just sampled) and returns the logits after the last of them. Token ids
  /// and the context length are checked first.
  absl::StatusOr<std::vector<float>> append(const std::vector<int32_t> &tokens);

  /// Logits after `tokens`, evaluated from position 0 (reset + append).
  absl::StatusOr<std::vector<float>> lastLogits(const std::vector<int32_t> &tokens);

private:
  Session() = default;
  frontends::LoadedModel model_;
  std::unique_ptr<codegen::JitModule> jit_;
  std::vector<ref::Tensor> weights_; // the entry point's trailing arguments, f32
  std::vector<ref::Tensor> caches_;  // K and V per layer: [1, context, kv_heads, head_dim]
  std::vector<int32_t> history_;
  double compileSeconds_ = 0;
  int64_t context_ = 0;
};

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_SESSION_H
