//===- QualityTest.cpp - logits, perplexity and KL divergence -------------===//
//
// The quality tools at three levels:
//  * the arithmetic of runtime/Quality.h on hand-made logits (NLL,
//    llama.cpp's uncertainties and percentiles, KL divergence, llama-
//    perplexity's windows, the logits file);
//  * `tessel logits` run as a program: the file it writes, read back, holds
//    the reference evaluator's logits (1e-4 absolute + 1e-4 relative, as
//    ModelJitTest);
//  * `tessel perplexity` on the real stories260K and the committed text:
//    within 0.5% of llama.cpp's perplexity as committed in
//    tests/llamacpp/perplexity_reference.json (the live comparison is the
//    ctest llamacpp/perplexity-stories260K); --save-logits/--kl-base on
//    q8_0 against f32; one clear error for each kind of bad input.
//
//===----------------------------------------------------------------------===//
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "frontends/ModelLoader.h"
#include "nlohmann/json.hpp"
#include "reference/ModelEvaluator.h"
#include "runtime/Quality.h"
#include "tests/unit/ScratchDirTest.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

namespace fs = std::filesystem;
using runtime::PerplexityWindows;

const fs::path kSource = TESSEL_SOURCE_DIR;
const fs::path kTessel = fs::path(TESSEL_BINARY_DIR) / "bin" / "tessel";
const fs::path kStories =
    kSource.parent_path() / "shared" / "models" / "stories260K" / "stories260K.gguf";
const fs::path kText = kSource / "tests" / "data" / "perplexity.txt";

// --- the arithmetic ---------------------------------------------------------

TEST(QualityMath, NegLogLikelihoodIsMinusLogSoftmax) {
  std::vector<float> uniform(512, 3.5f);
  EXPECT_NEAR(runtime::negLogLikelihood(uniform.data(), 512, 7), std::log(512.0), 1e-12);
  std::vector<float> row = {1, 2, 3};
  double want = -std::log(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
  EXPECT_NEAR(runtime::negLogLikelihood(row.data(), 3, 2), want, 1e-12);
  // Large logits do not overflow: the largest is subtracted first.
  std::vector<float> large = {1000, 1000};
  EXPECT_NEAR(runtime::negLogLikelihood(large.data(), 2, 0), std::log(2.0), 1e-12);
}

TEST(QualityMath, ArgmaxTakesTheLowestOfTiesAndMarginIsTopTwoGap) {
  std::vector<float> row = {1, 5, 5, 2};
  EXPECT_EQ(runtime::argmax(row.data(), 4), 1);
  EXPECT_EQ(runtime::topTwoMargin(row.data(), 4), 0);
  std::vector<float> clear = {1, 5, 3.5f, 2};
  EXPECT_EQ(runtime::topTwoMargin(clear.data(), 4), 1.5);
}

TEST(QualityMath, UncertaintyIsTheStandardErrorOfTheMean) {
  runtime::RunningMean m;
  for (double x : {1.0, 2.0, 3.0, 4.0})
    m.add(x);
  // llama.cpp: sqrt((E[x^2] - E[x]^2) / (n - 1)) = sqrt(1.25 / 3).
  EXPECT_DOUBLE_EQ(m.mean().value, 2.5);
  EXPECT_NEAR(m.mean().uncertainty, std::sqrt(1.25 / 3), 1e-12);
  runtime::Estimate ppl = runtime::perplexity(m);
  EXPECT_NEAR(ppl.value, std::exp(2.5), 1e-9);
  EXPECT_NEAR(ppl.uncertainty, std::exp(2.5) * std::sqrt(1.25 / 3), 1e-9);
}

TEST(QualityMath, PercentilesInterpolateAsLlamaPerplexityDoes) {
  std::vector<double> v = {0, 1, 2, 3, 4};
  EXPECT_EQ(runtime::percentile(v, 0), 0);
  EXPECT_EQ(runtime::percentile(v, 0.5), 2);
  EXPECT_NEAR(runtime::percentile(v, 0.99), 3.96, 1e-12);
  EXPECT_EQ(runtime::percentile(v, 1), 4);
}

TEST(QualityMath, KlDivergenceOfKnownDistributions) {
  // base p = (1/2, 1/2), model q = (0.9, 0.1):
  // KL(p || q) = 0.5 log(0.5 / 0.9) + 0.5 log(0.5 / 0.1).
  std::vector<float> base = {0, 0}, model = {std::log(0.9f), std::log(0.1f)};
  runtime::TokenComparison t = runtime::compareRows(model.data(), base.data(), 2, 1);
  EXPECT_NEAR(t.kl, 0.5 * std::log(0.5 / 0.9) + 0.5 * std::log(0.5 / 0.1), 1e-6);
  EXPECT_NEAR(t.nll, -std::log(0.1), 1e-6);
  EXPECT_NEAR(t.nllBase, std::log(2.0), 1e-12);
  EXPECT_TRUE(t.sameTop); // both pick token 0 (base: a tie, the lowest id)

  runtime::KlDivergence same;
  std::vector<float> row = {0.5f, -1, 2, 0};
  for (int32_t target = 0; target < 4; ++target)
    same.add(runtime::compareRows(row.data(), row.data(), 4, target));
  EXPECT_EQ(same.meanKl().value, 0);
  EXPECT_EQ(same.klQuantile(0.99), 0);
  EXPECT_EQ(same.sameTop().value, 1);
  EXPECT_NEAR(same.perplexityDelta().value, 0, 1e-12);
  EXPECT_NEAR(same.perplexityDelta().uncertainty, 0, 1e-6);
}

TEST(PerplexityWindows, CutsTheTextAsLlamaPerplexityDoes) {
  auto w = PerplexityWindows::plan(5891, 128);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->chunks, 46); // floor(5891 / 128)
  EXPECT_EQ(w->first(), 64);
  EXPECT_EQ(w->scoredPerChunk(), 63); // logits at 64..126 score tokens 65..127
  auto limited = PerplexityWindows::plan(5891, 128, 3);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->chunks, 3);
  auto three = PerplexityWindows::plan(6, 3);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->scoredPerChunk(), 1);

  auto shortText = PerplexityWindows::plan(255, 128);
  ASSERT_FALSE(shortText.ok());
  EXPECT_NE(shortText.status().message().find("needs at least 256"), std::string::npos)
      << shortText.status();
  auto tiny = PerplexityWindows::plan(100, 2);
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().message().find("at least 3"), std::string::npos) << tiny.status();

  std::vector<int32_t> tokens = {1, 10, 11, 12, 13, 14, 15, 16};
  PerplexityWindows four{4, 2};
  EXPECT_EQ(four.input(tokens, 1, 1), (std::vector<int32_t>{1, 14, 15, 16}));
  EXPECT_EQ(four.input(tokens, 1, -1), (std::vector<int32_t>{13, 14, 15, 16}));
}

class LogitsFileTest : public ScratchDirTest {
protected:
  // A file of 2 windows of 4 tokens over a vocabulary of 3.
  runtime::LogitsFileHeader header() const {
    runtime::LogitsFileHeader h;
    h.windows = {4, 2};
    h.vocab = 3;
    h.bos = 1;
    h.tokens = {1, 2, 0, 2, 1, 1, 0, 2};
    return h;
  }
  std::string write(const std::string &name, const runtime::LogitsFileHeader &h) {
    auto writer = runtime::LogitsFileWriter::create(path(name), h);
    EXPECT_TRUE(writer.ok()) << writer.status();
    for (int64_t c = 0; c < h.windows.chunks; ++c) {
      std::vector<float> rows(h.windows.scoredPerChunk() * h.vocab);
      for (size_t i = 0; i < rows.size(); ++i)
        rows[i] = static_cast<float>(c * 100 + i);
      EXPECT_TRUE(writer->appendChunk(rows.data()).ok());
    }
    EXPECT_TRUE(writer->close().ok());
    return path(name);
  }
};

TEST_F(LogitsFileTest, RoundTrips) {
  std::string file = write("base.logits", header());
  // 28 header bytes, 8 tokens, 2 windows x 1 row x 3 floats.
  EXPECT_EQ(fs::file_size(file), 28u + 8 * 4 + 2 * 3 * 4);
  auto reader = runtime::LogitsFileReader::open(file);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(reader->header().windows.ctx, 4);
  EXPECT_EQ(reader->header().windows.chunks, 2);
  EXPECT_EQ(reader->header().vocab, 3);
  EXPECT_EQ(reader->header().bos, 1);
  EXPECT_EQ(reader->header().tokens, header().tokens);
  auto second = reader->chunk(1);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, (std::vector<float>{100, 101, 102}));
  EXPECT_FALSE(reader->chunk(2).ok());
}

TEST_F(LogitsFileTest, DamagedFilesAreRefusedWithTheirName) {
  std::string file = write("base.logits", header());
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto expectError = [&](const std::string &name, const std::string &content,
                         const std::string &what) {
    auto r = runtime::LogitsFileReader::open(writeBytes(name, content));
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.status().message().find(path(name)), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status();
  };
  expectError("truncated", bytes.substr(0, bytes.size() - 1), "truncated");
  expectError("longer", bytes + "x", "truncated or damaged");
  expectError("text", "Once upon a time, there was a little girl.", "not a logits file");
  expectError("empty", "", "not a logits file");
  std::string badToken = bytes;
  badToken[28] = 9; // the first token, outside the 3-token vocabulary
  expectError("bad-token", badToken, "outside");
  std::string hugeCtx = bytes;
  hugeCtx[12] = hugeCtx[13] = hugeCtx[14] = hugeCtx[15] = '\xff'; // ctx = 2^32 - 1
  expectError("huge", hugeCtx, "truncated or damaged");
  auto missing = runtime::LogitsFileReader::open(path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot read"), std::string::npos);
}

// --- the commands ------------------------------------------------------------

struct CliRun {
  int status = -1;
  std::string output; // stdout and stderr
};

std::string quote(const std::string &s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `tessel ARGS` with the compile cache off (tests never write the
// user's cache).
CliRun tessel(const std::string &args, bool withStderr = true) {
  std::string command = "TESSEL_CACHE=0 " + quote(kTessel.string()) + " " + args +
                        (withStderr ? " 2>&1" : " 2>/dev/null");
  CliRun run;
  FILE *pipe = popen(command.c_str(), "r");
  if (!pipe)
    return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    run.output.append(buffer, n);
  int status = pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::vector<float> readFloats(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> out(fs::file_size(path) / sizeof(float));
  in.read(reinterpret_cast<char *>(out.data()), static_cast<std::streamsize>(out.size() * 4));
  return out;
}

class QualityCliTest : public ScratchDirTest {
protected:
  void SetUp() override {
    ScratchDirTest::SetUp();
    ASSERT_TRUE(fs::exists(kTessel)) << kTessel << " is missing: build the tessel target";
    ASSERT_TRUE(fs::exists(kStories)) << kStories << " is missing: the tests need ../shared";
  }

  // `tessel logits` output for `tokens` against the reference evaluator.
  void expectLogitsMatchReference(const std::string &file, const std::vector<int32_t> &tokens) {
    auto model = frontends::loadModel(kStories.string());
    ASSERT_TRUE(model.ok()) << model.status();
    auto reference = ref::ModelEvaluator::create(*model);
    ASSERT_TRUE(reference.ok()) << reference.status();
    auto want = (*reference)->forward(tokens);
    ASSERT_TRUE(want.ok()) << want.status();
    std::vector<float> got = readFloats(file);
    ASSERT_EQ(static_cast<int64_t>(got.size()), want->numel())
        << "expected " << tokens.size() << " x 512 float32";
    double worst = 0;
    for (int64_t i = 0; i < want->numel(); ++i) {
      double err = std::abs(got[i] - want->f[i]);
      worst = std::max(worst, err);
      ASSERT_LE(err, 1e-4 + 1e-4 * std::abs(want->f[i]))
          << "position " << i / 512 << ", logit " << i % 512;
    }
    ::testing::Test::RecordProperty("max_abs_error", std::to_string(worst));
  }

  static double finalPerplexity(const std::string &output) {
    std::smatch m;
    if (!std::regex_search(output, m, std::regex("Final estimate: PPL = ([0-9.]+) \\+/- ")))
      return -1;
    return std::stod(m[1]);
  }
};

TEST_F(QualityCliTest, LogitsFromIdsMatchTheReferenceEvaluator) {
  // "Once upon a time, there was a little girl named Mia. She had a red
  // ball." (BOS first), five ids per line.
  std::vector<int32_t> tokens = {1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421,
                                 395, 392, 417, 412, 426, 338, 381, 261, 352, 266, 268, 388, 426};
  // Then arbitrary ids up to 160 tokens: more than one 128-key tile of the
  // attention kernel, and past the GGUF's context length of 128 (allowed
  // with RoPE, as in llama.cpp).
  for (int32_t i = 0; tokens.size() < 160; ++i)
    tokens.push_back((i * 37 + 11) % 512);
  std::ostringstream ids;
  for (size_t i = 0; i < tokens.size(); ++i)
    ids << tokens[i] << (i % 5 == 4 ? "\n" : " \t ");
  std::string idsFile = writeBytes("ids.txt", ids.str());
  CliRun run = tessel("logits " + quote(kStories.string()) + " --ids-file " + quote(idsFile) +
                      " --out " + quote(path("logits.f32")));
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("160 tokens x 512 logits"), std::string::npos) << run.output;
  expectLogitsMatchReference(path("logits.f32"), tokens);
}

TEST_F(QualityCliTest, LogitsFromTextPrependBosAndSummarize) {
  CliRun run = tessel("logits " + quote(kStories.string()) +
                          " --text 'Once upon a time' --summary --out " + quote(path("text.f32")),
                      /*withStderr=*/false);
  ASSERT_EQ(run.status, 0) << run.output;
  expectLogitsMatchReference(path("text.f32"), {1, 403, 407, 261, 378});
  // One line per position: position, token, argmax, its logit, the margin.
  // After "Once upon a time" the model continues with ',' (432), as `tessel
  // run` does.
  std::istringstream lines(run.output);
  std::string header, line, last;
  std::getline(lines, header);
  EXPECT_EQ(header, "# position token argmax logit margin");
  int count = 0;
  while (std::getline(lines, line))
    last = line, ++count;
  EXPECT_EQ(count, 5);
  EXPECT_TRUE(std::regex_match(last, std::regex("4 378 432 [0-9.]+ [0-9.]+"))) << last;
}

TEST_F(QualityCliTest, PerplexityIsWithinHalfAPercentOfLlamaCpp) {
  std::ifstream in(kSource / "tests" / "llamacpp" / "perplexity_reference.json");
  nlohmann::json reference = nlohmann::json::parse(in);
  const double want = reference.at("ppl").get<double>();
  const int64_t ctx = reference.at("n_ctx").get<int64_t>();
  CliRun run = tessel("perplexity " + quote(kStories.string()) + " --file " +
                      quote(kText.string()) + " --ctx " + std::to_string(ctx));
  ASSERT_EQ(run.status, 0) << run.output;
  const double got = finalPerplexity(run.output);
  ASSERT_GT(got, 0) << run.output;
  EXPECT_LE(std::abs(got / want - 1), 0.005) << "tessel " << got << ", llama.cpp " << want;
  ::testing::Test::RecordProperty("tessel_ppl", std::to_string(got));
  // The same windows as llama.cpp: tokens, windows and scored positions.
  const std::string windows = std::to_string(reference.at("n_tokens").get<int64_t>()) +
                              " tokens (BOS 1 first); " +
                              std::to_string(reference.at("n_chunk").get<int64_t>()) +
                              " windows of " + std::to_string(ctx) + " tokens";
  EXPECT_NE(run.output.find(windows), std::string::npos) << run.output;
  EXPECT_NE(
      run.output.find("(" + std::to_string(reference.at("scored").get<int64_t>()) + " tokens)"),
      std::string::npos)
      << run.output;
}

TEST_F(QualityCliTest, KlDivergenceOfQ8AgainstF32) {
  const std::string desc = (kSource / "examples" / "models" / "tiny-llama.json").string();
  for (const char *dtype : {"f32", "q8_0"}) {
    CliRun made =
        tessel("mkmodel " + quote(desc) + " --dtype " + dtype + " --vocab_from " +
               quote(kStories.string()) + " -o " + quote(path(std::string(dtype) + ".gguf")));
    ASSERT_EQ(made.status, 0) << made.output;
  }
  const std::string base = path("f32.logits");
  CliRun saved =
      tessel("perplexity " + quote(path("f32.gguf")) + " --file " + quote(kText.string()) +
             " --ctx 64 --chunks 8 --save-logits " + quote(base));
  ASSERT_EQ(saved.status, 0) << saved.output;
  // 8 windows x 31 scored rows x 512 logits, after the header and 8 x 64 tokens.
  EXPECT_EQ(fs::file_size(base), 28u + 8 * 64 * 4 + 8 * 31 * 512 * 4);

  auto number = [](const std::string &output, const std::string &label) {
    std::smatch m;
    if (!std::regex_search(output, m, std::regex(label + " *([-+0-9.e]+)")))
      return -1.0;
    return std::stod(m[1]);
  };
  CliRun self = tessel("perplexity " + quote(path("f32.gguf")) + " --kl-base " + quote(base));
  ASSERT_EQ(self.status, 0) << self.output;
  EXPECT_EQ(number(self.output, "Mean    KLD:"), 0) << self.output;
  EXPECT_EQ(number(self.output, "Same top-1:"), 100) << self.output;
  EXPECT_EQ(finalPerplexity(self.output), finalPerplexity(saved.output));

  CliRun q8 = tessel("perplexity " + quote(path("q8_0.gguf")) + " --kl-base " + quote(base) +
                     " --file " + quote(kText.string()));
  ASSERT_EQ(q8.status, 0) << q8.output;
  const double kl = number(q8.output, "Mean    KLD:"), p99 = number(q8.output, "99.0%   KLD:");
  const double median = number(q8.output, "Median  KLD:");
  EXPECT_GT(kl, 0) << q8.output;
  EXPECT_LT(kl, 1e-2) << q8.output; // 8-bit weights barely move the distribution
  EXPECT_GE(p99, median) << q8.output;
  EXPECT_GE(number(q8.output, "Same top-1:"), 90) << q8.output;
  EXPECT_LT(std::abs(number(q8.output, R"(Mean PPL\(Q\)-PPL\(base\):)")),
            0.01 * finalPerplexity(saved.output))
      << q8.output;
}

TEST_F(QualityCliTest, BadInputGivesOneClearError) {
  const std::string model = quote(kStories.string()), text = quote(kText.string());
  const std::string empty = writeBytes("empty.txt", "\n");
  const std::string badIds = writeBytes("bad-ids.txt", "1 403 512\n");
  const std::string notIds = writeBytes("not-ids.txt", "1 four\n");
  std::string longIds;
  for (int i = 0; i < 200; ++i)
    longIds += "5 ";
  const std::string longIdsFile = writeBytes("long-ids.txt", longIds);
  // A base file over another vocabulary (300) and with short windows.
  runtime::LogitsFileHeader other;
  other.windows = {8, 2};
  other.vocab = 300;
  other.tokens.assign(16, 5);
  {
    auto writer = runtime::LogitsFileWriter::create(path("vocab300.logits"), other);
    ASSERT_TRUE(writer.ok()) << writer.status();
    std::vector<float> rows(3 * 300);
    ASSERT_TRUE(writer->appendChunk(rows.data()).ok());
    ASSERT_TRUE(writer->appendChunk(rows.data()).ok());
    ASSERT_TRUE(writer->close().ok());
  }
  other.vocab = 512;
  {
    auto writer = runtime::LogitsFileWriter::create(path("ctx8.logits"), other);
    ASSERT_TRUE(writer.ok()) << writer.status();
    std::vector<float> rows(3 * 512);
    ASSERT_TRUE(writer->appendChunk(rows.data()).ok());
    ASSERT_TRUE(writer->appendChunk(rows.data()).ok());
    ASSERT_TRUE(writer->close().ok());
  }
  const std::string truncated = writeBytes("truncated.logits", [&] {
    std::ifstream in(path("ctx8.logits"), std::ios::binary);
    std::string b(std::istreambuf_iterator<char>(in), {});
    return b.substr(0, b.size() - 100);
  }());
  const std::string gpt2 =
      writeBytes("gpt2.json", R"({"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2,
        "n_positions": 128, "vocab_size": 512, "weights": {"random": {"seed": 3}}})");
  ASSERT_EQ(tessel("mkmodel " + quote(gpt2) + " --vocab_from " + model + " -o " +
                   quote(path("gpt2.gguf")))
                .status,
            0);

  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"logits " + model + " --ids-file " + quote(path("missing.txt")) + " --out " +
           quote(path("x")),
       "missing.txt: cannot open"},
      {"logits " + model + " --ids-file " + quote(badIds) + " --out " + quote(path("x")),
       "token id 512 (token 3) is outside the model's 512-token vocabulary"},
      {"logits " + model + " --ids-file " + quote(notIds) + " --summary",
       "'four' is not a token id"},
      {"logits " + model + " --ids-file " + quote(empty) + " --summary", "no token ids"},
      {"logits " + quote(path("gpt2.gguf")) + " --ids-file " + quote(longIdsFile) + " --summary",
       "200 tokens are more than"},
      {"logits " + model + " --text hello --out " + quote(path("no/such/dir/x")), "cannot write"},
      {"perplexity " + model + " --file " + quote(path("missing.txt")), "cannot open"},
      {"perplexity " + model + " --file " + quote(empty), "the file is empty"},
      {"perplexity " + model + " --file " + text + " --ctx 2", "--ctx must be at least 3"},
      {"perplexity " + model + " --file " + text + " --ctx 4000", "needs at least 8000"},
      {"perplexity " + model + " --file " + text + " --ctx -1", "--ctx -1 is negative"},
      {"perplexity " + quote(path("gpt2.gguf")) + " --file " + text + " --ctx 256",
       "learned position embeddings"},
      {"perplexity " + model + " --kl-base " + quote(path("missing.logits")), "cannot read"},
      {"perplexity " + model + " --kl-base " + text, "is not a logits file"},
      {"perplexity " + model + " --kl-base " + quote(truncated), "truncated or damaged"},
      {"perplexity " + model + " --kl-base " + quote(path("vocab300.logits")),
       "vocabulary of 300 tokens"},
      {"perplexity " + model + " --kl-base " + quote(path("ctx8.logits")) + " --ctx 64",
       "windows of 8 tokens"},
      {"perplexity " + model + " --kl-base " + quote(path("ctx8.logits")) + " --file " + text,
       "does not tokenize to the text"},
  };
  for (const Case &c : cases) {
    CliRun run = tessel(c.args);
    EXPECT_EQ(run.status, 1) << c.args << "\n" << run.output;
    EXPECT_NE(run.output.find(c.message), std::string::npos) << c.args << "\n" << run.output;
    // One line, naming the command.
    EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
    EXPECT_EQ(run.output.rfind("tessel ", 0), 0u) << run.output;
  }
  EXPECT_FALSE(fs::exists(path("x"))) << "a failed run left its --out file";

  // Usage errors: exit 2, one line that points to the command's help page.
  for (const std::string &args :
       {"logits " + model + " --text ''", "logits " + model, "perplexity " + model,
        "perplexity " + model + " --file " + text + " --save-logits a --kl-base b"}) {
    CliRun run = tessel(args);
    EXPECT_EQ(run.status, 2) << args << "\n" << run.output;
    EXPECT_NE(run.output.find("--help"), std::string::npos) << run.output;
    EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
  }
}

} // namespace
} // namespace tessel
