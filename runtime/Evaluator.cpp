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
  frontends::EntryPoints entries = entryPointsFor(model, options.cpu, /*cuda=*/false);
  const bool probe = options.attentionLayer >= 0;
  entries.forward = !probe;
  entries.step = false;
  entries.attentionProbsLayer = options.attentionLayer;
  const std::string entry = probe ? "attention_probs" : "forward";
  auto ir = frontends::modelToMlir(c, model.path, /*debugInfo=*/false, entries);
  if (!ir.ok())
    return ir.status();

  std::unique_ptr<Evaluator> e(new Evaluator());
  nlohmann::json metadata = {{"path", model.path}, {"entry", entry}, {"kv_cache", false}};
  auto code = compileForRuntime(*ir, model.path, options.cacheDir, metadata.dump(), options.cpu);
  if (!code.ok())
    return code.status();
  e->jit_ = std::move(code->module);
  e->codeOrigin_ = std::move(code->origin);
  e->cacheNote_ = std::move(code->note);

  e->entry_ = entry;
  e->compileSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto weights = bindWeights(model.weights, *e->jit_, entry);
  if (!weights.ok())
    return weights.status();
  e->weights_ = std::move(*weights);
  e->context_ = context;
  e->model_ = std::move(model);
  return e;
}

absl::StatusOr<ref::Tensor> Evaluator::evaluate(const std::vector<int32_t> &tokens,
                                                const std::string &entry) {
  if (entry != entry_)
    return absl::FailedPreconditionError(
        absl::StrCat("this evaluator compiled @", entry_, ", not @", entry,
                     entry == "attention_probs" ? " (set EvaluatorOptions::attentionLayer)" : ""));
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

  ref::TokenInputs in = ref::tokenInputs(tokens.data(), n);
  std::vector<codegen::BufferRef> args = {codegen::BufferRef::of(in.ids),
                                          codegen::BufferRef::of(in.positions)};
  args.insert(args.end(), weights_.args.begin(), weights_.args.end());
  auto out = jit_->call(entry, args);
  if (!out.ok())
    return out.status();
  return std::move((*out)[0]);
}

absl::StatusOr<ref::Tensor> Evaluator::logits(const std::vector<int32_t> &tokens) {
  auto logits = evaluate(tokens, "forward");
  if (!logits.ok())
    return logits.status();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (logits->numel() != n * vocabSize())
    return absl::InternalError(absl::StrCat("@forward returned ", logits->describe(), " for ", n,
                                            " tokens and a vocabulary of ", vocabSize()));
  logits->shape = {n, vocabSize()}; // drop the batch dimension
  return logits;
}

absl::StatusOr<ref::Tensor> Evaluator::attentionProbs(const std::vector<int32_t> &tokens) {
  auto probs = evaluate(tokens, "attention_probs");
  if (!probs.ok())
    return probs.status();
  const int64_t n = static_cast<int64_t>(tokens.size()), heads = model_.config.numHeads;
  if (probs->shape != std::vector<int64_t>{1, heads, n, n})
    return absl::InternalError(absl::StrCat("@attention_probs returned ", probs->describe(),
                                            " for ", n, " tokens and ", heads, " heads"));
  probs->shape = {heads, n, n}; // drop the batch dimension
  return probs;
}

} // namespace tessel::runtime
