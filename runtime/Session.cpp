//===- Session.cpp --------------------------------------------------------===//
#include "runtime/Session.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "codegen/Jit.h"
#include "frontends/ModelToIR.h"

namespace tessel::runtime {

Session::~Session() = default;

absl::StatusOr<std::unique_ptr<Session>> Session::create(frontends::LoadedModel model) {
  auto start = std::chrono::steady_clock::now();
  auto ir = frontends::modelToMlir(model.config, model.path);
  if (!ir.ok())
    return ir.status();
  auto jit = codegen::JitModule::compile(*ir, model.path);
  if (!jit.ok())
    return jit.status();
  auto names = (*jit)->weightNames("forward");
  if (!names.ok())
    return names.status();
  std::unique_ptr<Session> s(new Session());
  // Compiled code takes f32 weights for now: dequantize once, up front.
  for (const std::string &name : *names) {
    auto w = model.weights.get(name);
    if (!w.ok())
      return w.status();
    ref::Tensor t = ref::Tensor::zerosF32((*w)->shape);
    t.f = (*w)->toF32();
    s->weights_.push_back(std::move(t));
  }
  s->model_ = std::move(model);
  s->jit_ = std::move(*jit);
  s->compileSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

absl::StatusOr<std::vector<float>> Session::lastLogits(const std::vector<int32_t> &tokens) const {
  int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0)
    return absl::InvalidArgumentError("no tokens to evaluate");
  if (n > model_.config.contextLength)
    return absl::OutOfRangeError(
        absl::StrCat(n, " tokens exceed the model's context of ", model_.config.contextLength));
  std::vector<ref::Tensor> args = {ref::Tensor::zerosI64({1, n}), ref::Tensor::zerosI64({1, n})};
  for (int64_t i = 0; i < n; ++i) {
    // The compiled gather does not bounds-check: ids are checked here.
    if (tokens[i] < 0 || tokens[i] >= model_.config.vocabSize)
      return absl::InvalidArgumentError(absl::StrCat("token id ", tokens[i], " is outside the ",
                                                     model_.config.vocabSize, "-token vocabulary"));
    args[0].i[i] = tokens[i];
    args[1].i[i] = i;
  }
  args.insert(args.end(), weights_.begin(), weights_.end());
  auto out = jit_->run("forward", args);
  if (!out.ok())
    return out.status();
  const ref::Tensor &logits = (*out)[0];
  int64_t vocab = logits.shape.back();
  return std::vector<float>(logits.f.end() - vocab, logits.f.end());
}

} // namespace tessel::runtime
