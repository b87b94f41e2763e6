//===- Quality.cpp --------------------------------------------------------===//
#include "runtime/Quality.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "logits files are little-endian and written as the host stores them");

namespace tessel::runtime {

namespace {

// log(sum_v exp(row[v])), shifted by the largest logit for stability.
double logSumExp(const float *row, int64_t vocab) {
  float top = row[0];
  for (int64_t v = 1; v < vocab; ++v)
    top = std::max(top, row[v]);
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v)
    sum += std::exp(static_cast<double>(row[v]) - top);
  return top + std::log(sum);
}

constexpr char kMagic[8] = {'T', 'S', 'L', 'L', 'O', 'G', 'I', 'T'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kHeaderBytes = 8 + 4 * 4 + 4; // magic, 4 x uint32, bos

} // namespace

double negLogLikelihood(const float *row, int64_t vocab, int32_t target) {
  return logSumExp(row, vocab) - row[target];
}

int32_t argmax(const float *row, int64_t vocab) {
  int64_t best = 0;
  for (int64_t v = 1; v < vocab; ++v)
    if (row[v] > row[best])
      best = v;
  return static_cast<int32_t>(best);
}

double topTwoMargin(const float *row, int64_t vocab) {
  if (vocab < 2)
    return 0;
  int32_t best = argmax(row, vocab);
  float second = -INFINITY;
  for (int64_t v = 0; v < vocab; ++v)
    if (v != best)
      second = std::max(second, row[v]);
  return static_cast<double>(row[best]) - second;
}

TokenComparison compareRows(const float *row, const float *baseRow, int64_t vocab, int32_t target) {
  const double lse = logSumExp(row, vocab), lseBase = logSumExp(baseRow, vocab);
  TokenComparison t;
  t.nll = lse - row[target];
  t.nllBase = lseBase - baseRow[target];
  double kl = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    const double logP = row[v] - lse, logPBase = baseRow[v] - lseBase;
    kl += std::exp(logPBase) * (logPBase - logP);
  }
  t.kl = std::max(kl, 0.0); // rounding may leave -1e-17 for identical rows
  t.sameTop = argmax(row, vocab) == argmax(baseRow, vocab);
  return t;
}

Estimate RunningMean::mean() const {
  if (count_ == 0)
    return {};
  const double mean = sum_ / count_;
  const double variance = sum2_ / count_ - mean * mean;
  return {mean, count_ > 1 && variance > 0 ? std::sqrt(variance / (count_ - 1)) : 0.0};
}

Estimate perplexity(const RunningMean &nll) {
  const Estimate m = nll.mean();
  const double ppl = std::exp(m.value);
  return {ppl, ppl * m.uncertainty};
}

double percentile(const std::vector<double> &sorted, double fraction) {
  if (sorted.empty())
    return 0;
  if (fraction <= 0)
    return sorted.front();
  if (fraction >= 1)
    return sorted.back();
  double p = fraction * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(p);
  p -= static_cast<double>(i);
  return (1 - p) * sorted[i] + p * sorted[std::min(i + 1, sorted.size() - 1)];
}

void KlDivergence::add(const TokenComparison &t) {
  nll_.add(t.nll);
  nllBase_.add(t.nllBase);
  kl_.add(t.kl);
  sumNllNllBase_ += t.nll * t.nllBase;
  sameTop_ += t.sameTop;
  kls_.push_back(t.kl);
  sorted_ = false;
}

Estimate KlDivergence::perplexityDelta() const {
  const Estimate ppl = perplexity(), base = basePerplexity();
  const int64_t n = count();
  double covariance = 0; // of the two mean NLLs
  if (n > 1)
    covariance = (sumNllNllBase_ / n - (nll_.sum() / n) * (nllBase_.sum() / n)) / (n - 1);
  const double variance = ppl.uncertainty * ppl.uncertainty + base.uncertainty * base.uncertainty -
                          2 * ppl.value * base.value * covariance;
  return {ppl.value - base.value, std::sqrt(std::max(variance, 0.0))};
}

double KlDivergence::klQuantile(double fraction) const {
  if (!sorted_) {
    std::sort(kls_.begin(), kls_.end());
    sorted_ = true;
  }
  return percentile(kls_, fraction);
}

double KlDivergence::maxKl() const { return klQuantile(1); }

Estimate KlDivergence::sameTop() const {
  const int64_t n = count();
  if (n == 0)
    return {};
  const double p = static_cast<double>(sameTop_) / n;
  return {p, n > 1 ? std::sqrt(p * (1 - p) / (n - 1)) : 0.0};
}

absl::StatusOr<PerplexityWindows> PerplexityWindows::plan(int64_t numTokens, int64_t ctx,
                                                          int64_t maxChunks) {
  if (ctx < 3)
    return absl::InvalidArgumentError(absl::StrCat(
        "a window of ", ctx, " tokens scores nothing; --ctx must be at least 3 (the logits at ",
        "positions ctx/2 .. ctx-2 are scored)"));
  if (numTokens < 2 * ctx)
    return absl::InvalidArgumentError(absl::StrCat(
        "the text has ", numTokens, " tokens; perplexity with windows of ", ctx,
        " tokens needs at least ", 2 * ctx, " (two windows, as llama-perplexity requires)"));
  if (maxChunks < 0)
    return absl::InvalidArgumentError(absl::StrCat("--chunks ", maxChunks, " is negative"));
  PerplexityWindows w;
  w.ctx = ctx;
  w.chunks = numTokens / ctx;
  if (maxChunks > 0)
    w.chunks = std::min(w.chunks, maxChunks);
  return w;
}

std::vector<int32_t> PerplexityWindows::input(const std::vector<int32_t> &tokens, int64_t chunk,
                                              int32_t bos) const {
  std::vector<int32_t> window(tokens.begin() + chunk * ctx, tokens.begin() + (chunk + 1) * ctx);
  if (bos >= 0)
    window[0] = bos;
  return window;
}

// --- logits files -----------------------------------------------------------

absl::StatusOr<LogitsFileWriter> LogitsFileWriter::create(const std::string &path,
                                                          const LogitsFileHeader &header) {
  const PerplexityWindows &w = header.windows;
  if (static_cast<int64_t>(header.tokens.size()) != w.chunks * w.ctx)
    return absl::InternalError(absl::StrCat("a logits file header with ", header.tokens.size(),
                                            " tokens for ", w.chunks, " windows of ", w.ctx));
  LogitsFileWriter writer;
  writer.path_ = path;
  writer.header_ = header;
  writer.out_.open(path, std::ios::binary | std::ios::trunc);
  if (!writer.out_)
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot write (", std::strerror(errno), ")"));
  const uint32_t fields[4] = {kVersion, static_cast<uint32_t>(w.ctx),
                              static_cast<uint32_t>(header.vocab), static_cast<uint32_t>(w.chunks)};
  writer.out_.write(kMagic, sizeof(kMagic));
  writer.out_.write(reinterpret_cast<const char *>(fields), sizeof(fields));
  writer.out_.write(reinterpret_cast<const char *>(&header.bos), sizeof(header.bos));
  writer.out_.write(reinterpret_cast<const char *>(header.tokens.data()),
                    header.tokens.size() * sizeof(int32_t));
  if (!writer.out_)
    return absl::DataLossError(path + ": write failed");
  return writer;
}

absl::Status LogitsFileWriter::appendChunk(const float *rows) {
  const int64_t floats = header_.windows.scoredPerChunk() * header_.vocab;
  out_.write(reinterpret_cast<const char *>(rows), floats * sizeof(float));
  if (!out_)
    return absl::DataLossError(path_ + ": write failed (disk full?)");
  ++written_;
  return absl::OkStatus();
}

absl::Status LogitsFileWriter::close() {
  out_.close();
  if (out_.fail())
    return absl::DataLossError(path_ + ": write failed (disk full?)");
  if (written_ != header_.windows.chunks)
    return absl::InternalError(
        absl::StrCat(path_, ": ", written_, " of ", header_.windows.chunks, " windows written"));
  return absl::OkStatus();
}

absl::StatusOr<LogitsFileReader> LogitsFileReader::open(const std::string &path) {
  LogitsFileReader reader;
  reader.path_ = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return absl::InvalidArgumentError(path + ": is a directory, not a logits file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec)
    return absl::NotFoundError(absl::StrCat(path, ": cannot read (", ec.message(), ")"));
  reader.in_.open(path, std::ios::binary);
  if (!reader.in_)
    return absl::NotFoundError(absl::StrCat(path, ": cannot read (", std::strerror(errno), ")"));
  const std::string what = path + " is not a logits file written by `tessel perplexity "
                                  "--save-logits`";
  char magic[8] = {};
  uint32_t fields[4] = {};
  int32_t bos = -1;
  reader.in_.read(magic, sizeof(magic));
  reader.in_.read(reinterpret_cast<char *>(fields), sizeof(fields));
  reader.in_.read(reinterpret_cast<char *>(&bos), sizeof(bos));
  if (!reader.in_ || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0)
    return absl::InvalidArgumentError(what + " (no TSLLOGIT header)");
  if (fields[0] != kVersion)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": logits file version ", fields[0], ", this tessel reads ", kVersion));
  LogitsFileHeader &h = reader.header_;
  h.windows.ctx = fields[1];
  h.vocab = fields[2];
  h.windows.chunks = fields[3];
  h.bos = bos;
  if (h.windows.ctx < 3 || h.vocab < 1 || h.windows.chunks < 1 || bos < -1 || bos >= h.vocab)
    return absl::InvalidArgumentError(absl::StrCat(what, " (header: ctx ", h.windows.ctx,
                                                   ", vocab ", h.vocab, ", chunks ",
                                                   h.windows.chunks, ", bos ", bos, ")"));
  // In double: a hostile header must not overflow the arithmetic.
  const double expected =
      kHeaderBytes + 4.0 * h.windows.chunks * h.windows.ctx +
      4.0 * h.windows.chunks * static_cast<double>(h.windows.scoredPerChunk()) * h.vocab;
  if (static_cast<double>(size) != expected)
    return absl::DataLossError(
        absl::StrCat(path, ": ", size, " bytes, but its header (", h.windows.chunks, " windows of ",
                     h.windows.ctx, " tokens, vocabulary ", h.vocab, ") implies ",
                     absl::StrFormat("%.0f", expected), "; truncated or damaged"));
  const int64_t numTokens = h.windows.chunks * h.windows.ctx;
  reader.rowsOffset_ = kHeaderBytes + numTokens * static_cast<int64_t>(sizeof(int32_t));
  h.tokens.resize(numTokens);
  reader.in_.read(reinterpret_cast<char *>(h.tokens.data()), numTokens * sizeof(int32_t));
  if (!reader.in_)
    return absl::DataLossError(path + ": cannot read its tokens");
  for (int32_t t : h.tokens)
    if (t < 0 || t >= h.vocab)
      return absl::DataLossError(absl::StrCat(path, ": token ", t, " is outside its ", h.vocab,
                                              "-token vocabulary; damaged"));
  return reader;
}

absl::StatusOr<std::vector<float>> LogitsFileReader::chunk(int64_t index) {
  const int64_t floats = header_.windows.scoredPerChunk() * header_.vocab;
  if (index < 0 || index >= header_.windows.chunks)
    return absl::OutOfRangeError(
        absl::StrCat(path_, " holds ", header_.windows.chunks, " windows, not ", index + 1));
  std::vector<float> rows(floats);
  in_.clear();
  in_.seekg(rowsOffset_ + index * floats * static_cast<int64_t>(sizeof(float)));
  in_.read(reinterpret_cast<char *>(rows.data()), floats * sizeof(float));
  if (!in_)
    return absl::DataLossError(absl::StrCat(path_, ": cannot read window ", index + 1));
  return rows;
}

} // namespace tessel::runtime
