//===- AttentionMapTest.cpp - compiled attention probabilities -------------===//
//
// Attention maps read a layer's probabilities from @attention_probs, an
// entry point compiled through the same CPU pipeline as the model
// (tessel.attention_probs lowered by tessel-lower-to-linalg). They must be
// probabilities (every row sums to 1, hidden keys are exactly 0) and the
// ones the reference evaluator's attention weighs the values with.
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <filesystem>

#include "frontends/ModelLoader.h"
#include "reference/ModelEvaluator.h"
#include "runtime/Evaluator.h"
#include "gtest/gtest.h"
#include "tests/unit/TestPaths.h"

namespace tessel {
namespace {

namespace fs = std::filesystem;

using testing::kExamples;
using testing::kStories;

std::vector<int32_t> someTokens(int64_t n, int64_t vocab) {
  std::vector<int32_t> tokens = {1};
  for (int64_t i = 1; i < n; ++i)
    tokens.push_back(static_cast<int32_t>((i * 37 + 11) % vocab));
  return tokens;
}

// Compares every layer's compiled probabilities with the reference's:
// 1e-5 absolute (f32 scores and exp against f64), rows summing to 1 within
// 1e-5, and exact zeros where the causal rule or the window hides a key.
void expectMapsMatchTheReference(const std::string &path, int64_t numTokens) {
  auto loaded = frontends::loadModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const frontends::LoadedModel &model = *loaded;
  const frontends::ModelConfig &c = model.config;
  std::vector<int32_t> tokens = someTokens(numTokens, c.vocabSize);
  auto reference = ref::ModelEvaluator::create(model);
  ASSERT_TRUE(reference.ok()) << reference.status();
  const int64_t n = numTokens;
  for (int64_t layer = 0; layer < c.numLayers; ++layer) {
    SCOPED_TRACE("layer " + std::to_string(layer));
    auto want = (*reference)->attentionProbs(tokens, layer);
    ASSERT_TRUE(want.ok()) << want.status();
    runtime::EvaluatorOptions options;
    options.attentionLayer = layer;
    auto copy = frontends::loadModel(path); // the evaluator owns its model
    ASSERT_TRUE(copy.ok()) << copy.status();
    auto evaluator = runtime::Evaluator::create(std::move(*copy), options);
    ASSERT_TRUE(evaluator.ok()) << evaluator.status();
    auto got = (*evaluator)->attentionProbs(tokens);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->shape, (std::vector<int64_t>{c.numHeads, n, n}));
    ASSERT_EQ(want->shape, got->shape);
    const int64_t window = c.layers[layer].window;
    for (int64_t h = 0; h < c.numHeads; ++h)
      for (int64_t i = 0; i < n; ++i) {
        double sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          int64_t at = (h * n + i) * n + j;
          float p = got->f[at];
          sum += p;
          EXPECT_NEAR(p, want->f[at], 1e-5) << "head " << h << " query " << i << " key " << j;
          bool hidden = j > i || (window > 0 && i - j >= window);
          if (hidden)
            EXPECT_EQ(p, 0.0f) << "head " << h << " query " << i << " sees key " << j;
          else
            EXPECT_GE(p, 0.0f);
        }
        EXPECT_NEAR(sum, 1.0, 1e-5) << "head " << h << " query " << i;
      }
  }
}

TEST(AttentionMap, Stories260KEveryLayerMatchesTheReference) {
  ASSERT_TRUE(fs::exists(kStories)) << kStories << " is missing: the tests need ../shared";
  expectMapsMatchTheReference(kStories.string(), 12);
}

// GQA (4 query heads per KV head is tiny-llama's layout) and a sliding
// window of 16 that hides the oldest keys of a 24-token sequence.
TEST(AttentionMap, GqaAndSlidingWindowMatchTheReference) {
  for (const char *name : {"tiny-llama.json", "tiny-mistral.json"}) {
    SCOPED_TRACE(name);
    expectMapsMatchTheReference((kExamples / name).string(), 24);
  }
}

TEST(AttentionMap, ErrorsNameTheProblem) {
  auto load = [](const char *name) { return frontends::loadModel((kExamples / name).string()); };
  auto llama = load("tiny-llama.json");
  ASSERT_TRUE(llama.ok()) << llama.status();
  runtime::EvaluatorOptions options;
  options.attentionLayer = llama->config.numLayers;
  auto missing = runtime::Evaluator::create(std::move(*llama), options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos)
      << missing.status();

  // An evaluator compiled for logits has no probabilities, and vice versa.
  options.attentionLayer = 0;
  auto probe = runtime::Evaluator::create(*load("tiny-llama.json"), options);
  ASSERT_TRUE(probe.ok()) << probe.status();
  auto logits = (*probe)->logits({1, 2, 3});
  EXPECT_EQ(logits.status().code(), absl::StatusCode::kFailedPrecondition) << logits.status();

  auto mla = load("tiny-deepseek2.json");
  ASSERT_TRUE(mla.ok()) << mla.status();
  auto unsupported = runtime::Evaluator::create(std::move(*mla), options);
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(unsupported.status().code(), absl::StatusCode::kUnimplemented) << unsupported.status();
}

} // namespace
} // namespace tessel
