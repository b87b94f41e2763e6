//===- Session.cpp --------------------------------------------------------===//
#include "runtime/Session.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "codegen/Jit.h"
#include "frontends/ModelToIR.h"

namespace tessel::runtime {

Session::~Session() = default;

absl::StatusOr<std::unique_ptr<Session>> Session::create(frontends::LoadedModel model,
                                                         const SessionOptions &options) {
  auto start = std::chrono::steady_clock::now();
  const frontends::ModelConfig &c = model.config;
  const int64_t context = options.context > 0 ? options.context : c.contextLength;
  if (context > c.contextLength && c.learnedPositions)
    return absl::InvalidArgumentError(
        absl::StrCat("a context of ", context, " tokens is longer than ", model.path,
                     "'s learned position embeddings (", c.contextLength, ")"));
  bool cached = frontends::supportsKvCache(c);
  frontends::EntryPoints entries;
  entries.forward = !cached;
  entries.step = cached;
  entries.cacheLength = context;
  auto ir = frontends::modelToMlir(c, model.path, /*debugInfo=*/false, entries);
  if (!ir.ok())
    return ir.status();
  auto jit = codegen::JitModule::compile(*ir, model.path);
  if (!jit.ok())
    return jit.status();
  auto names = (*jit)->weightNames(cached ? "step" : "forward");
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
  if (cached)
    for (int64_t i = 0; i < 2 * c.numLayers; ++i)
      s->caches_.push_back(ref::Tensor::zerosF32({1, context, c.numKvHeads, c.headDim}));
  s->context_ = context;
  s->model_ = std::move(model);
  s->jit_ = std::move(*jit);
  s->compileSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

int64_t Session::kvCacheBytes() const {
  int64_t bytes = 0;
  for (const ref::Tensor &t : caches_)
    bytes += static_cast<int64_t>(t.f.size() * sizeof(float));
  return bytes;
}

absl::StatusOr<std::vector<float>> Session::append(const std::vector<int32_t> &tokens) {
  const frontends::ModelConfig &c = model_.config;
  int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0)
    return absl::InvalidArgumentError("no tokens to evaluate");
  if (position() + n > context_)
    return absl::OutOfRangeError(
        absl::StrCat(position() + n, " tokens exceed the session's context of ", context_));
  for (int32_t t : tokens)
    // The compiled gather does not bounds-check: ids are checked here.
    if (t < 0 || t >= c.vocabSize)
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", t, " is outside the ", c.vocabSize, "-token vocabulary"));

  // Without a cache the whole sequence is evaluated again.
  const int64_t first = hasKvCache() ? position() : 0;
  const size_t before = history_.size();
  history_.insert(history_.end(), tokens.begin(), tokens.end());
  const int64_t count = position() - first;
  ref::Tensor ids = ref::Tensor::zerosI64({1, count}),
              positions = ref::Tensor::zerosI64({1, count});
  for (int64_t i = 0; i < count; ++i) {
    ids.i[i] = history_[first + i];
    positions.i[i] = first + i;
  }
  std::vector<codegen::BufferRef> args = {codegen::BufferRef::of(ids),
                                          codegen::BufferRef::of(positions)};
  for (ref::Tensor &cache : caches_)
    args.push_back(codegen::BufferRef::of(cache));
  for (ref::Tensor &w : weights_)
    args.push_back(codegen::BufferRef::of(w));
  auto out = jit_->call(hasKvCache() ? "step" : "forward", args);
  if (!out.ok()) {
    history_.resize(before);
    return out.status();
  }
  const ref::Tensor &logits = (*out)[0];
  int64_t vocab = logits.shape.back();
  return std::vector<float>(logits.f.end() - vocab, logits.f.end());
}

absl::StatusOr<std::vector<float>> Session::lastLogits(const std::vector<int32_t> &tokens) {
  reset();
  return append(tokens);
}

} // namespace tessel::runtime
