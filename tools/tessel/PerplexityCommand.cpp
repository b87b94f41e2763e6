//===- PerplexityCommand.cpp - `tessel perplexity` ------------------------===//
//
// Perplexity over a text file exactly as llama.cpp's llama-perplexity
// computes it (runtime/Quality.h has the windowing): the file (less one
// trailing newline, as llama.cpp's -f reads it) is tokenized with BOS
// first (when the tokenizer has one), cut into floor(tokens / ctx) windows
// of ctx tokens, each evaluated teacher-forced from position 0 with its
// first token replaced by BOS; the second half of each window is scored.
// stdout: the running perplexity after each window, `[1]5.1234,[2]...`,
// then `Final estimate: PPL = 5.1234 +/- 0.05678` (the uncertainty is
// llama.cpp's: PPL times the standard error of the mean NLL).
//
//   tessel perplexity MODEL --file text.txt [--ctx 128] [--chunks N]
//   tessel perplexity f32.gguf --file text.txt --save_logits base.logits
//   tessel perplexity q8_0.gguf --kl_base base.logits
//
// --kl_base compares with the logits another model saved (the base's
// tokens and windows are used, so --file is optional; given, it must
// tokenize to the same tokens): KL(base || model) per scored token (mean,
// median, 99th percentile, maximum), how often both pick the same top-1
// token, and PPL(model) - PPL(base), with llama.cpp's uncertainties.
//
//===----------------------------------------------------------------------===//
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "frontends/ModelLoader.h"
#include "frontends/tokenizer/Tokenizer.h"
#include "runtime/Evaluator.h"
#include "runtime/Quality.h"
#include "runtime/Session.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {
namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The window llama-perplexity uses when -c is not given is 512; a model
// that says it knows less gets its own context length.
constexpr int64_t kDefaultCtx = 512;

// What to score: the tokens, BOS (-1: none) and the windows.
struct Text {
  std::vector<int32_t> tokens;
  int32_t bos = -1;
  runtime::PerplexityWindows windows;
};

// The file's tokens as llama-perplexity makes them: one trailing newline
// dropped, BOS first when the tokenizer has one.
absl::StatusOr<std::pair<std::vector<int32_t>, int32_t>>
tokenizeFile(const std::string &path, const frontends::LoadedModel &model) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return absl::InvalidArgumentError(path + ": is a directory, not a text file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (!text.empty() && text.back() == '\n')
    text.pop_back();
  if (text.empty())
    return absl::InvalidArgumentError(path + ": the file is empty");
  auto tokenizer = modelTokenizer(model);
  if (!tokenizer.ok())
    return tokenizer.status();
  auto ids = (*tokenizer)->encode(text, path);
  if (!ids.ok())
    return ids.status();
  std::vector<int32_t> tokens;
  const int32_t bos = (*tokenizer)->bos();
  if (bos >= 0)
    tokens.push_back(bos);
  tokens.insert(tokens.end(), ids->begin(), ids->end());
  return std::make_pair(std::move(tokens), bos);
}

// The text and windows to score from --file/--ctx/--chunks, or from the
// base file with --kl_base (checked against the model and the flags).
absl::StatusOr<Text> textToScore(const frontends::LoadedModel &model, const std::string &file,
                                 const runtime::LogitsFileReader *base) {
  const int64_t ctxFlag = absl::GetFlag(FLAGS_ctx), chunksFlag = absl::GetFlag(FLAGS_chunks);
  if (ctxFlag < 0)
    return absl::InvalidArgumentError(absl::StrCat("--ctx ", ctxFlag, " is negative"));
  if (chunksFlag < 0)
    return absl::InvalidArgumentError(absl::StrCat("--chunks ", chunksFlag, " is negative"));
  Text t;
  if (!base) {
    auto tokens = tokenizeFile(file, model);
    if (!tokens.ok())
      return tokens.status();
    t.tokens = std::move(tokens->first);
    t.bos = tokens->second;
    const int64_t ctx =
        ctxFlag > 0 ? ctxFlag : std::min<int64_t>(kDefaultCtx, model.config.contextLength);
    auto windows =
        runtime::PerplexityWindows::plan(static_cast<int64_t>(t.tokens.size()), ctx, chunksFlag);
    if (!windows.ok())
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", windows.status().message()));
    t.windows = *windows;
    return t;
  }

  const runtime::LogitsFileHeader &h = base->header();
  const std::string &basePath = absl::GetFlag(FLAGS_kl_base);
  if (h.vocab != model.config.vocabSize)
    return absl::InvalidArgumentError(absl::StrCat(
        basePath, " holds logits over a vocabulary of ", h.vocab, " tokens; ", model.path, " has ",
        model.config.vocabSize, ": they are not the same model family"));
  if (ctxFlag > 0 && ctxFlag != h.windows.ctx)
    return absl::InvalidArgumentError(absl::StrCat("--ctx ", ctxFlag, ": ", basePath,
                                                   " was computed with windows of ", h.windows.ctx,
                                                   " tokens (leave --ctx out)"));
  if (chunksFlag > h.windows.chunks)
    return absl::InvalidArgumentError(absl::StrCat("--chunks ", chunksFlag, ": ", basePath,
                                                   " holds ", h.windows.chunks, " windows"));
  t.tokens = h.tokens;
  t.bos = h.bos;
  t.windows = h.windows;
  if (chunksFlag > 0)
    t.windows.chunks = chunksFlag;
  if (!file.empty()) {
    auto tokens = tokenizeFile(file, model);
    if (!tokens.ok())
      return tokens.status();
    const std::vector<int32_t> &mine = tokens->first;
    for (size_t i = 0; i < h.tokens.size(); ++i)
      if (i >= mine.size() || mine[i] != h.tokens[i])
        return absl::InvalidArgumentError(
            absl::StrCat(file, " does not tokenize to the text ", basePath,
                         " was computed on (first difference at token ", i, ")"));
  }
  return t;
}

void printEstimate(const char *label, runtime::Estimate e) {
  std::printf("%s: %12.6f +/- %10.6f\n", label, e.value, e.uncertainty);
}

} // namespace

int runPerplexity(const std::vector<std::string> &args) {
  auto fail = [](const absl::Status &st) {
    std::fprintf(stderr, "tessel perplexity: %s\n", std::string(st.message()).c_str());
    return 1;
  };
  const std::string file = absl::GetFlag(FLAGS_file), saveLogits = absl::GetFlag(FLAGS_save_logits),
                    klBase = absl::GetFlag(FLAGS_kl_base);
  if (args.size() != 1 || (file.empty() && klBase.empty()) ||
      (!saveLogits.empty() && !klBase.empty())) {
    std::fprintf(stderr, "tessel perplexity: expected MODEL and --file TEXT, with at most one of "
                         "--save_logits FILE and --kl_base FILE (which makes --file optional); "
                         "run 'tessel perplexity --help'\n");
    return 2;
  }
  std::optional<runtime::LogitsFileReader> base;
  if (!klBase.empty()) {
    auto reader = runtime::LogitsFileReader::open(klBase);
    if (!reader.ok())
      return fail(reader.status());
    base = std::move(*reader);
  }
  auto model = frontends::loadModel(args[0]);
  if (!model.ok())
    return fail(model.status());
  auto text = textToScore(*model, file, base ? &*base : nullptr);
  if (!text.ok())
    return fail(text.status());
  const runtime::PerplexityWindows &w = text->windows;
  const int64_t vocab = model->config.vocabSize;
  if (w.ctx > model->config.contextLength && !model->config.learnedPositions)
    std::fprintf(stderr,
                 "tessel perplexity: note: windows of %lld tokens are longer than the model's "
                 "context length (%lld); llama-perplexity warns likewise\n",
                 static_cast<long long>(w.ctx),
                 static_cast<long long>(model->config.contextLength));

  auto evaluator = evaluatorFromFlags(std::move(*model), w.ctx, "tessel perplexity");
  if (!evaluator.ok())
    return fail(evaluator.status());

  std::optional<runtime::LogitsFileWriter> saved;
  if (!saveLogits.empty()) {
    runtime::LogitsFileHeader header;
    header.windows = w;
    header.vocab = vocab;
    header.bos = text->bos;
    header.tokens.assign(text->tokens.begin(), text->tokens.begin() + w.chunks * w.ctx);
    auto writer = runtime::LogitsFileWriter::create(saveLogits, header);
    if (!writer.ok())
      return fail(writer.status());
    saved = std::move(*writer);
  }
  auto failSaving = [&](const absl::Status &st) {
    if (saved) {
      std::error_code ec;
      std::filesystem::remove(saveLogits, ec); // no half-written base files
    }
    return fail(st);
  };

  std::fprintf(stderr,
               "tessel perplexity: %s: %zu tokens%s; %lld windows of %lld tokens, scoring "
               "positions %lld..%lld of each (%lld tokens); compile %.2f s (%s)\n",
               base ? klBase.c_str() : file.c_str(), text->tokens.size(),
               text->bos >= 0 ? absl::StrCat(" (BOS ", text->bos, " first)").c_str() : "",
               static_cast<long long>(w.chunks), static_cast<long long>(w.ctx),
               static_cast<long long>(w.first() + 1), static_cast<long long>(w.ctx - 1),
               static_cast<long long>(w.chunks * w.scoredPerChunk()),
               (*evaluator)->compileSeconds(), (*evaluator)->codeOrigin().c_str());

  runtime::RunningMean nll;
  runtime::KlDivergence kl;
  auto start = Clock::now();
  for (int64_t chunk = 0; chunk < w.chunks; ++chunk) {
    auto logits = (*evaluator)->logits(w.input(text->tokens, chunk, text->bos));
    if (!logits.ok())
      return failSaving(logits.status());
    // Row r (position first + r) predicts the token at first + r + 1.
    const float *rows = logits->f.data() + w.first() * vocab;
    const int32_t *targets = text->tokens.data() + chunk * w.ctx + w.first() + 1;
    std::vector<float> baseRows;
    if (base) {
      auto read = base->chunk(chunk);
      if (!read.ok())
        return fail(read.status());
      baseRows = std::move(*read);
    }
    for (int64_t r = 0; r < w.scoredPerChunk(); ++r) {
      const float *row = rows + r * vocab;
      if (base) {
        runtime::TokenComparison c =
            runtime::compareRows(row, baseRows.data() + r * vocab, vocab, targets[r]);
        nll.add(c.nll);
        kl.add(c);
      } else {
        nll.add(runtime::negLogLikelihood(row, vocab, targets[r]));
      }
    }
    if (saved)
      if (absl::Status st = saved->appendChunk(rows); !st.ok())
        return failSaving(st);
    std::printf("[%lld]%.4f,", static_cast<long long>(chunk + 1), runtime::perplexity(nll).value);
    std::fflush(stdout);
  }
  const double evalSeconds = seconds(start);
  if (saved)
    if (absl::Status st = saved->close(); !st.ok())
      return failSaving(st);

  const runtime::Estimate ppl = runtime::perplexity(nll);
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl.value, ppl.uncertainty);
  if (base) {
    std::printf("\n====== Perplexity statistics ======\n");
    printEstimate("Mean PPL(Q)          ", kl.perplexity());
    printEstimate("Mean PPL(base)       ", kl.basePerplexity());
    printEstimate("Mean PPL(Q)-PPL(base)", kl.perplexityDelta());
    std::printf("\n====== KL divergence statistics ======\n");
    // In nats, with exponents: f16 or q8_0 against f32 are 1e-6 .. 1e-3.
    std::printf("Mean    KLD: %.4e +/- %.1e\n", kl.meanKl().value, kl.meanKl().uncertainty);
    std::printf("Median  KLD: %.4e\n", kl.klQuantile(0.5));
    std::printf("99.0%%   KLD: %.4e\n", kl.klQuantile(0.99));
    std::printf("Maximum KLD: %.4e\n", kl.maxKl());
    const runtime::Estimate same = kl.sameTop();
    std::printf("\n====== Token statistics ======\n");
    std::printf("Same top-1: %7.3f +/- %5.3f %% of %lld tokens\n", 100 * same.value,
                100 * same.uncertainty, static_cast<long long>(kl.count()));
  }
  std::fflush(stdout);
  std::fprintf(stderr, "tessel perplexity: %lld windows in %.2f s (%.1f tok/s)%s\n",
               static_cast<long long>(w.chunks), evalSeconds,
               evalSeconds > 0 ? w.chunks * w.ctx / evalSeconds : 0.0,
               saved ? absl::StrCat("; logits saved to ", saveLogits).c_str() : "");
  return 0;
}

} // namespace tessel::cli
