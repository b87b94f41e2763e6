//===- Quality.h - perplexity, KL divergence and logits files ---*- C++ -*-===//
//
// The arithmetic behind `tessel perplexity`, apart from any model so that
// it can be tested on hand-made logits:
//
//  * PerplexityWindows: llama.cpp's llama-perplexity windowing. The text's
//    tokens (BOS first when the tokenizer has one) are cut into consecutive
//    windows ("chunks") of `ctx` tokens; each window is evaluated from
//    position 0 with its first token replaced by BOS, and only the second
//    half is scored: the logits at positions ctx/2 .. ctx-2 predict the
//    tokens at ctx/2+1 .. ctx-1, so every scored token sees at least ctx/2
//    tokens of context. A text must hold at least 2 * ctx tokens.
//  * Scores: the negative log-likelihood of the next token, and, against a
//    base model's logits, KL(base || model) and whether the top-1 tokens
//    agree; running means with llama.cpp's uncertainty estimates.
//  * LogitsFile: the `--save-logits` / `--kl-base` file.
//
// Everything is computed in double from f32 logits.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_QUALITY_H
#define TESSEL_RUNTIME_QUALITY_H

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessel::runtime {

/// -log softmax(row)[target] over `vocab` logits.
double negLogLikelihood(const float *row, int64_t vocab, int32_t target);

/// The index of the largest logit (the lowest index on ties).
int32_t argmax(const float *row, int64_t vocab);

/// The largest logit minus the second largest (0 for a tie or vocab < 2).
double topTwoMargin(const float *row, int64_t vocab);

/// How one scored token compares with the base model's prediction there.
struct TokenComparison {
  double nll = 0;     // -log p(target) under the model
  double nllBase = 0; // -log p_base(target)
  double kl = 0;      // KL(p_base || p) = sum_v p_base(v) (log p_base(v) - log p(v))
  bool sameTop = false;
};
TokenComparison compareRows(const float *row, const float *baseRow, int64_t vocab, int32_t target);

/// A mean with llama.cpp's uncertainty: the standard error of the mean,
/// sqrt((E[x^2] - E[x]^2) / (count - 1)) (0 for fewer than 2 values).
struct Estimate {
  double value = 0, uncertainty = 0;
};
class RunningMean {
public:
  void add(double x) {
    sum_ += x;
    sum2_ += x * x;
    ++count_;
  }
  int64_t count() const { return count_; }
  double sum() const { return sum_; }
  Estimate mean() const;

private:
  double sum_ = 0, sum2_ = 0;
  int64_t count_ = 0;
};

/// exp(mean NLL) +/- exp(mean NLL) * its uncertainty (llama-perplexity's
/// "Final estimate: PPL = ... +/- ...").
Estimate perplexity(const RunningMean &nll);

/// The `fraction` quantile of sorted `values`, interpolated linearly between
/// neighbours as llama-perplexity's KL statistics do.
double percentile(const std::vector<double> &sorted, double fraction);

/// Everything --kl-base reports, accumulated one scored token at a time.
class KlDivergence {
public:
  void add(const TokenComparison &t);
  int64_t count() const { return nll_.count(); }
  Estimate perplexity() const { return runtime::perplexity(nll_); }
  Estimate basePerplexity() const { return runtime::perplexity(nllBase_); }
  /// PPL - PPL(base), its uncertainty through the covariance of the two
  /// mean NLLs (llama-perplexity's "Mean PPL(Q)-PPL(base)").
  Estimate perplexityDelta() const;
  Estimate meanKl() const { return kl_.mean(); }
  /// Quantiles of the per-token KL divergence (0.5: the median).
  double klQuantile(double fraction) const;
  double maxKl() const;
  /// The fraction of tokens whose top-1 prediction is the base's, with a
  /// binomial uncertainty.
  Estimate sameTop() const;

private:
  RunningMean nll_, nllBase_, kl_;
  double sumNllNllBase_ = 0;
  int64_t sameTop_ = 0;
  mutable std::vector<double> kls_; // sorted on demand
  mutable bool sorted_ = true;
};

/// llama-perplexity's windows over a tokenized text.
struct PerplexityWindows {
  int64_t ctx = 0;    // tokens per window
  int64_t chunks = 0; // windows evaluated
  int64_t first() const { return ctx / 2; }
  /// Scored tokens per window: logits at first() .. ctx-2.
  int64_t scoredPerChunk() const { return ctx - 1 - first(); }

  /// Windows of `ctx` tokens over `numTokens` tokens: floor(numTokens /
  /// ctx) of them, at most `maxChunks` (0: no limit). Errors: ctx < 3 (a
  /// window must score a token) and texts shorter than 2 * ctx tokens.
  static absl::StatusOr<PerplexityWindows> plan(int64_t numTokens, int64_t ctx,
                                                int64_t maxChunks = 0);
  /// Window `chunk`'s input: tokens[chunk*ctx, (chunk+1)*ctx), its first
  /// token replaced by `bos` when bos >= 0.
  std::vector<int32_t> input(const std::vector<int32_t> &tokens, int64_t chunk, int32_t bos) const;
};

/// The logits `tessel perplexity --save-logits FILE` writes and `--kl-base
/// FILE` compares against. Little-endian throughout:
///
///   char[8]  "TSLLOGIT"
///   uint32   version (1)
///   uint32   ctx       tokens per window
///   uint32   vocab     logits per row
///   uint32   chunks    windows
///   int32    bos       the token that replaced each window's first (-1: none)
///   int32    tokens[chunks * ctx]   the text's tokens (before BOS replacement)
///   float32  logits[chunks][ctx - 1 - ctx/2][vocab]
///                      per window, the rows of positions ctx/2 .. ctx-2
///                      (those that are scored), row-major
///
/// Unlike llama.cpp's --kl-divergence-base file (log-probabilities rounded
/// to 16 bits, a 2.4e-4 step over the top 16 nats), the rows are the f32
/// logits themselves, so small divergences (q8_0 against f32) are not lost
/// in the rounding.
struct LogitsFileHeader {
  PerplexityWindows windows;
  int64_t vocab = 0;
  int32_t bos = -1;
  std::vector<int32_t> tokens; // windows.chunks * windows.ctx
};

class LogitsFileWriter {
public:
  /// Creates `path` and writes the header.
  static absl::StatusOr<LogitsFileWriter> create(const std::string &path,
                                                 const LogitsFileHeader &header);
  /// Appends one window's scored rows (scoredPerChunk() * vocab floats).
  absl::Status appendChunk(const float *rows);
  /// Flushes and checks that every window was written.
  absl::Status close();

private:
  std::string path_;
  std::ofstream out_;
  LogitsFileHeader header_;
  int64_t written_ = 0;
};

class LogitsFileReader {
public:
  /// Opens `path` and checks its header and its size against the header;
  /// errors name the file and what is wrong.
  static absl::StatusOr<LogitsFileReader> open(const std::string &path);
  const LogitsFileHeader &header() const { return header_; }
  /// Window `index`'s scored rows (scoredPerChunk() * vocab floats).
  absl::StatusOr<std::vector<float>> chunk(int64_t index);

private:
  std::string path_;
  std::ifstream in_;
  LogitsFileHeader header_;
  int64_t rowsOffset_ = 0;
};

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_QUALITY_H
