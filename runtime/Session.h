//===- Session.h - a compiled model ready to generate -----------*- C++ -*-===//
//
// Loads a model, compiles its forward function through the CPU pipeline
// (JIT), binds the weights once, and evaluates token sequences. This first
// session re-evaluates the whole sequence for each new token; the KV-cache
// decode function replaces that as the runtime grows (docs/ARCHITECTURE.md).
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
}

namespace tessel::runtime {

class Session {
public:
  static absl::StatusOr<std::unique_ptr<Session>> create(frontends::LoadedModel model);
  ~Session();

  const frontends::LoadedModel &model() const { return model_; }
  double compileSeconds() const { return compileSeconds_; }

  /// Logits for the last position of `tokens` (positions 0, 1, ...).
  /// Token ids are checked against the vocabulary first.
  absl::StatusOr<std::vector<float>> lastLogits(const std::vector<int32_t> &tokens) const;

private:
  Session() = default;
  frontends::LoadedModel model_;
  std::unique_ptr<codegen::JitModule> jit_;
  std::vector<ref::Tensor> weights_; // the forward's trailing arguments, f32
  double compileSeconds_ = 0;
};

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_SESSION_H
