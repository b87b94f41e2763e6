//===- ModelEvaluator.cpp -------------------------------------------------===//
#include "reference/ModelEvaluator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "frontends/ModelToIR.h"

namespace tessel::ref {

ModelEvaluator::ModelEvaluator(const frontends::LoadedModel &model,
                               std::unique_ptr<ReferenceProgram> program,
                               std::map<std::string, std::string> inputFormats)
    : model_(model), inputFormats_(std::move(inputFormats)), program_(std::move(program)) {}

absl::StatusOr<std::unique_ptr<ModelEvaluator>>
ModelEvaluator::create(const frontends::LoadedModel &model,
                       std::map<std::string, std::string> inputFormats) {
  frontends::EntryPoints entries;
  entries.inputFormats = inputFormats;
  auto text = frontends::modelToMlir(model.config, model.path, /*debugInfo=*/false, entries);
  if (!text.ok())
    return text.status();
  auto program = ReferenceProgram::parse(*text, model.path);
  if (!program.ok())
    return program.status();
  return std::unique_ptr<ModelEvaluator>(
      new ModelEvaluator(model, std::move(*program), std::move(inputFormats)));
}

absl::StatusOr<Tensor> ModelEvaluator::run(const ReferenceProgram &program,
                                           const std::string &entry,
                                           const std::vector<int32_t> &tokens) const {
  TokenInputs in = tokenInputs(tokens.data(), static_cast<int64_t>(tokens.size()));
  WeightProvider provider = [this](const std::string &name,
                                   const std::vector<int64_t> &shape) -> absl::StatusOr<Tensor> {
    auto cached = weights_.find(name);
    if (cached != weights_.end())
      return cached->second;
    auto w = model_.weights.get(name, shape);
    if (!w.ok())
      return w.status();
    Tensor t = Tensor::zerosF32(shape);
    t.f = (*w)->toF32();
    weights_.emplace(name, t);
    return t;
  };
  auto out = program.run({in.ids, in.positions}, entry, provider);
  if (!out.ok())
    return out.status();
  return std::move((*out)[0]);
}

absl::StatusOr<Tensor> ModelEvaluator::forward(const std::vector<int32_t> &tokens) const {
  auto logits = run(*program_, "forward", tokens);
  if (!logits.ok())
    return logits.status();
  logits->shape = {static_cast<int64_t>(tokens.size()), logits->shape.back()};
  return logits;
}

absl::StatusOr<Tensor> ModelEvaluator::attentionProbs(const std::vector<int32_t> &tokens,
                                                      int64_t layer) const {
  auto &program = probePrograms_[layer];
  if (!program) {
    frontends::EntryPoints entries;
    entries.forward = entries.step = false;
    entries.attentionProbsLayer = layer;
    entries.inputFormats = inputFormats_;
    auto text = frontends::modelToMlir(model_.config, model_.path, /*debugInfo=*/false, entries);
    if (!text.ok())
      return text.status();
    auto parsed = ReferenceProgram::parse(*text, model_.path);
    if (!parsed.ok())
      return parsed.status();
    program = std::move(*parsed);
  }
  auto probs = run(*program, "attention_probs", tokens);
  if (!probs.ok())
    return probs.status();
  probs->shape.erase(probs->shape.begin()); // drop the batch dimension
  return probs;
}

absl::StatusOr<std::vector<int32_t>> ModelEvaluator::greedy(std::vector<int32_t> prompt,
                                                            int n) const {
  for (int step = 0; step < n; ++step) {
    auto logits = forward(prompt);
    if (!logits.ok())
      return logits.status();
    int64_t vocab = logits->shape[1];
    const float *last = &logits->f[(logits->shape[0] - 1) * vocab];
    prompt.push_back(static_cast<int32_t>(std::max_element(last, last + vocab) - last));
  }
  return prompt;
}

} // namespace tessel::ref
