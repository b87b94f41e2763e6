//===- LogitsCommand.cpp - `tessel logits` --------------------------------===//
//
// Teacher-forced logits: the whole sequence is evaluated in one call of the
// compiled @forward (runtime/Evaluator.h), which gives the logits at every
// position. `--out FILE` writes them as little-endian float32
// [tokens x vocab], row-major, nothing else in the file (row i is the
// prediction after tokens 0..i); `--summary` prints, per position, the
// token, the argmax, its logit and the margin to the second best.
//
//   tessel logits MODEL --ids_file IDS --out logits.f32   # ids as given
//   tessel logits MODEL --text "Once upon a time" --summary
//
// --ids_file holds token ids separated by whitespace (or commas), used as
// given: no BOS is added. --text is tokenized with the model's tokenizer
// and BOS is prepended when the tokenizer has one, as `tessel run --prompt`
// does (llama.cpp adds it for vocabularies that ask for it: SPM "llama"
// ones such as stories260K's).
//
//===----------------------------------------------------------------------===//
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "frontends/ModelLoader.h"
#include "frontends/tokenizer/Tokenizer.h"
#include "runtime/Evaluator.h"
#include "runtime/Quality.h"
#include "runtime/Session.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {

absl::StatusOr<std::unique_ptr<frontends::Tokenizer>>
modelTokenizer(const frontends::LoadedModel &m) {
  if (m.gguf)
    return frontends::Tokenizer::fromGguf(*m.gguf);
  if (m.format == frontends::ModelFormat::Llama2c && !m.tokenizerPath.empty())
    return frontends::Tokenizer::fromLlama2c(m.tokenizerPath,
                                             static_cast<int32_t>(m.config.vocabSize));
  if (!m.tokenizerPath.empty())
    return frontends::Tokenizer::fromHfJson(m.tokenizerPath);
  if (m.format == frontends::ModelFormat::Description)
    return absl::NotFoundError(m.path +
                               " is a model description and has no tokenizer; give "
                               "token ids instead of text, or write it as a GGUF, which "
                               "has a byte-level vocabulary, with 'tessel mkmodel " +
                               m.path + " -o model.gguf'");
  if (m.format == frontends::ModelFormat::Llama2c)
    return absl::NotFoundError(m.path + " has no tokenizer.bin or tok*.bin beside it; give token "
                                        "ids instead of text");
  return absl::NotFoundError(m.path + " has no tokenizer; give token ids instead of text");
}

absl::StatusOr<std::unique_ptr<runtime::Evaluator>>
evaluatorFromFlags(frontends::LoadedModel model, int64_t context, const char *command,
                   int64_t attentionLayer) {
  if (absl::Status st = quantizeFromFlags(model); !st.ok())
    return st;
  runtime::EvaluatorOptions options;
  options.context = context;
  options.attentionLayer = attentionLayer;
  auto cpu = cpuOptionsFromFlags();
  if (!cpu.ok())
    return cpu.status();
  options.cpu = *cpu;
  if (!absl::GetFlag(FLAGS_no_cache))
    options.cacheDir = runtime::defaultCacheDir();
  auto evaluator = runtime::Evaluator::create(std::move(model), options);
  if (evaluator.ok() && !(*evaluator)->cacheNote().empty())
    std::fprintf(stderr, "%s: note: %s\n", command, (*evaluator)->cacheNote().c_str());
  return evaluator;
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Token ids separated by whitespace or commas, each checked against the
// vocabulary here so the error names the file.
absl::StatusOr<std::vector<int32_t>> readIds(const std::string &path, int64_t vocab) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<int32_t> ids;
  for (absl::string_view part :
       absl::StrSplit(ss.str(), absl::ByAnyChar(" \t\r\n,"), absl::SkipEmpty())) {
    int32_t id;
    if (!absl::SimpleAtoi(part, &id))
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": '", part, "' is not a token id (token ", ids.size() + 1, ")"));
    if (id < 0 || id >= vocab)
      return absl::InvalidArgumentError(absl::StrCat(path, ": token id ", id, " (token ",
                                                     ids.size() + 1, ") is outside the model's ",
                                                     vocab, "-token vocabulary"));
    ids.push_back(id);
  }
  if (ids.empty())
    return absl::InvalidArgumentError(path + ": no token ids in the file");
  return ids;
}

} // namespace

int runLogits(const std::vector<std::string> &args) {
  const std::string idsFile = absl::GetFlag(FLAGS_ids_file), text = absl::GetFlag(FLAGS_text);
  const std::string out = absl::GetFlag(FLAGS_out);
  std::ofstream file; // --out, opened before anything is compiled
  auto fail = [&](const absl::Status &st) {
    if (file.is_open()) { // no empty or partial output
      file.close();
      std::error_code ec;
      std::filesystem::remove(out, ec);
    }
    std::fprintf(stderr, "tessel logits: %s\n", std::string(st.message()).c_str());
    return 1;
  };
  const bool summary = absl::GetFlag(FLAGS_summary);
  if (args.size() != 1 || idsFile.empty() == text.empty() || (out.empty() && !summary)) {
    std::fprintf(stderr,
                 "tessel logits: expected MODEL, one of --ids_file FILE or --text TEXT (not "
                 "empty), and --out FILE and/or --summary (run 'tessel logits --help')\n");
    return 2;
  }
  if (!out.empty()) {
    file.open(out, std::ios::binary | std::ios::trunc);
    if (!file)
      return fail(absl::PermissionDeniedError(
          absl::StrCat(out, ": cannot write (", std::strerror(errno), ")")));
  }
  auto model = frontends::loadModel(args[0]);
  if (!model.ok())
    return fail(model.status());
  const int64_t vocab = model->config.vocabSize;

  std::vector<int32_t> tokens;
  if (!idsFile.empty()) {
    auto ids = readIds(idsFile, vocab);
    if (!ids.ok())
      return fail(ids.status());
    tokens = std::move(*ids);
  } else {
    auto tokenizer = modelTokenizer(*model);
    if (!tokenizer.ok())
      return fail(absl::Status(tokenizer.status().code(),
                               absl::StrCat(tokenizer.status().message(), " (--ids_file FILE)")));
    auto ids = (*tokenizer)->encode(text, "--text");
    if (!ids.ok())
      return fail(ids.status());
    if ((*tokenizer)->bos() >= 0)
      tokens.push_back((*tokenizer)->bos());
    tokens.insert(tokens.end(), ids->begin(), ids->end());
    if (tokens.empty())
      return fail(absl::InvalidArgumentError("--text tokenizes to no tokens"));
  }

  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n > model->config.contextLength && !model->config.learnedPositions)
    std::fprintf(stderr,
                 "tessel logits: note: %lld tokens are more than the model's context length "
                 "(%lld)\n",
                 static_cast<long long>(n), static_cast<long long>(model->config.contextLength));
  auto evaluator = evaluatorFromFlags(std::move(*model), n, "tessel logits");
  if (!evaluator.ok())
    return fail(evaluator.status());

  auto start = Clock::now();
  auto logits = (*evaluator)->logits(tokens);
  if (!logits.ok())
    return fail(logits.status());
  const double evalSeconds = seconds(start);

  if (!out.empty()) {
    file.write(reinterpret_cast<const char *>(logits->f.data()),
               static_cast<std::streamsize>(logits->f.size() * sizeof(float)));
    file.flush();
    if (!file)
      return fail(absl::DataLossError(out + ": write failed (disk full?)"));
    file.close();
  }
  if (summary) {
    std::printf("# position token argmax logit margin\n");
    for (int64_t i = 0; i < n; ++i) {
      const float *row = logits->f.data() + i * vocab;
      const int32_t best = runtime::argmax(row, vocab);
      std::printf("%lld %d %d %.6f %.6f\n", static_cast<long long>(i), tokens[i], best, row[best],
                  runtime::topTwoMargin(row, vocab));
    }
    std::fflush(stdout);
  }
  std::fprintf(stderr,
               "tessel logits: %lld tokens x %lld logits%s; compile %.2f s (%s), "
               "evaluate %.3f s (%.1f tok/s)\n",
               static_cast<long long>(n), static_cast<long long>(vocab),
               out.empty() ? "" : absl::StrCat(" -> ", out, " (float32)").c_str(),
               (*evaluator)->compileSeconds(), (*evaluator)->codeOrigin().c_str(), evalSeconds,
               evalSeconds > 0 ? n / evalSeconds : 0.0);
  return 0;
}

} // namespace tessel::cli
