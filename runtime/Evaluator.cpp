//===- Evaluator.cpp ------------------------------------------------------===//
#include "runtime/Evaluator.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "codegen/Jit.h"
#include "frontends/ModelToIR.h"
#include "nlohmann/json.hpp"
#include "runtime/Compiled.h"
#include "runtime/Weights.h"

namespace tessel::runtime {

Evaluator::~Evaluator() = default;

absl::StatusOr<std::unique_ptr<Evaluator>> Evaluator::create(frontends::LoadedModel model,
                                                             const EvaluatorOptions &options) {
  auto start = std::chrono::steady_clock::now();
  const frontends::ModelConfig &c = model.config;
  const int64_t context = options.context > 0 ? options.context : c.contextLength;
  if (context > c.contextLength && c.learnedPositions)
    return absl::InvalidArgumentError(absl::StrCat(context, " tokens are more than ", model.path,
                                                   "'s learned position embeddings cover (",
                                                   c.contextLength, ")"));

  // @forward alone: its IR does not depend on the context (no cache), so one
  // compiled entry serves every sequence length.
  frontends::EntryPoints entries;
  entries.forward = true;
  entries.step = false;
  auto ir = frontends::modelToMlir(c, model.path, /*debugInfo=*/false, entries);
  if (!ir.ok())
    return ir.status();

  std::unique_ptr<Evaluator> e(new Evaluator());
  nlohmann::json metadata = {{"path", model.path}, {"entry", "forward"}, {"kv_cache", false}};
  auto code = compileForRuntime(*ir, model.path, options.cacheDir, metadata.dump(), options.cpu);
  if (!code.ok())
    return code.status();
  e->jit_ = std::move(code->module);
  e->codeOrigin_ = std::move(code->origin);
  e->cacheNote_ = std::move(code->note);

  auto names = e->jit_->weightNames("forward");
  if (!names.ok())
    return names.status();
  auto weights = weightsAsF32(model.weights, *names);
  if (!weights.ok())
    return weights.status();
  e->weights_ = std::move(*weights);
  e->context_ = context;
  e->model_ = std::move(model);
  e->compileSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return e;
}

absl::StatusOr<ref::Tensor> Evaluator::logits(const std::vector<int32_t> &tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0)
    return absl::InvalidArgumentError("no tokens to evaluate");
  if (n > context_)
    return absl::OutOfRangeError(
        absl::StrCat(n, " tokens exceed the evaluator's context of ", context_));
  for (int32_t t : tokens)
    if (t < 0 || t >= vocabSize())
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", t, " is outside the ", vocabSize(), "-token vocabulary"));

  ref::Tensor ids = ref::Tensor::zerosI64({1, n}), positions = ref::Tensor::zerosI64({1, n});
  for (int64_t i = 0; i < n; ++i) {
    ids.i[i] = tokens[i];
    positions.i[i] = i;
  }
  std::vector<codegen::BufferRef> args = {codegen::BufferRef::of(ids),
                                          codegen::BufferRef::of(positions)};
  for (ref::Tensor &w : weights_)
    args.push_back(codegen::BufferRef::of(w));
  auto out = jit_->call("forward", args);
  if (!out.ok())
    return out.status();
  ref::Tensor logits = std::move((*out)[0]);
  if (logits.numel() != n * vocabSize())
    return absl::InternalError(absl::StrCat("@forward returned ", logits.describe(), " for ", n,
                                            " tokens and a vocabulary of ", vocabSize()));
  logits.shape = {n, vocabSize()}; // drop the batch dimension
  return logits;
}

} // namespace tessel::runtime
