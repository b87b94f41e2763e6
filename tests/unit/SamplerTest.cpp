//===- SamplerTest.cpp - the runtime sampler vs tessel.sample semantics ---===//
#include <random>

#include "reference/Ops.h"
#include "runtime/Sampler.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

// Same logits, same options, same seed: the runtime sampler draws what the
// reference evaluator's tessel.sample draws, row after row.
TEST(Sampler, MatchesTheReferenceDrawForDraw) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const int64_t rows = 64, vocab = 300;
  ref::Tensor logits = ref::Tensor::zerosF32({rows, vocab});
  for (float &x : logits.f)
    x = normal(rng);
  struct Case {
    double temperature;
    int64_t topK;
    double topP;
  } cases[] = {{0.0, 0, 1.0}, {1.0, 0, 1.0}, {0.7, 40, 1.0}, {1.3, 0, 0.9}, {0.8, 10, 0.5}};
  for (const Case &c : cases) {
    SCOPED_TRACE(c.temperature);
    ref::SampleParams p{c.temperature, c.topK, c.topP, 1234};
    auto want = ref::sample(logits, p);
    ASSERT_TRUE(want.ok()) << want.status();
    runtime::Sampler sampler({c.temperature, c.topK, c.topP, 1234});
    for (int64_t r = 0; r < rows; ++r)
      EXPECT_EQ(sampler.sample(&logits.f[r * vocab], vocab), want->i[r]) << "row " << r;
  }
}

TEST(Sampler, TopKOneIsGreedyAndTiesGoLow) {
  std::vector<float> logits = {0.5f, 3.0f, 3.0f, -1.0f};
  runtime::Sampler greedy({0.0, 0, 1.0, 0});
  EXPECT_EQ(greedy.sample(logits.data(), 4), 1);
  runtime::Sampler top1({1.5, 1, 1.0, 9});
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(top1.sample(logits.data(), 4), 1);
}

} // namespace
} // namespace tessel
