//===- ReferenceOpsTest.cpp - hand-checked properties of the reference ----===//
//
// The PyTorch goldens check the reference numerically; these tests pin down
// properties that must hold whatever the numbers (a single key returns its
// value, GQA equals MHA with repeated heads, ...) and the run-time errors.
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <random>
#include <set>

#include "reference/Ops.h"
#include "gtest/gtest.h"

namespace tessel::ref {
namespace {

Tensor f32(std::vector<int64_t> shape, std::vector<float> data) {
  Tensor t = Tensor::zerosF32(std::move(shape));
  t.f = std::move(data);
  return t;
}

Tensor i64(std::vector<int64_t> shape, std::vector<int64_t> data, DType dtype = DType::I64) {
  Tensor t = Tensor::zerosI64(std::move(shape), dtype);
  t.i = std::move(data);
  return t;
}

Tensor random(std::vector<int64_t> shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::zerosF32(std::move(shape));
  for (float &v : t.f)
    v = dist(rng);
  return t;
}

void expectNear(const Tensor &a, const Tensor &b, double tol) {
  ASSERT_EQ(a.shape, b.shape);
  for (int64_t i = 0; i < a.numel(); ++i)
    EXPECT_NEAR(a.f[i], b.f[i], tol) << "at " << i;
}

TEST(ReferenceOps, LinearWithBias) {
  // [1 2] . [[1 0] [0 1] [1 1]]^T + [0 0 10] = [1 2 13]
  Tensor bias = f32({3}, {0, 0, 10});
  auto y = linear(f32({1, 2}, {1, 2}), f32({3, 2}, {1, 0, 0, 1, 1, 1}), &bias);
  ASSERT_TRUE(y.ok()) << y.status();
  expectNear(*y, f32({1, 3}, {1, 2, 13}), 0);
}

// input_format q8_0's rounding by hand: a block whose largest magnitude is
// 127 has d = 1, so the values round to integers, ties to even (0.5 -> 0,
// 1.5 -> 2, -2.5 -> -2); an all-zero block stays zero; a block scaled by
// 1/64 keeps the same integers times d = 127/64/127.
TEST(ReferenceOps, RoundToQ8_0ByHand) {
  std::vector<float> x(96, 0.0f), out(96, -1.0f);
  x[0] = 127.0f, x[1] = 0.5f, x[2] = 1.5f, x[3] = -2.5f, x[4] = -126.6f, x[5] = 3.49f;
  for (int j = 0; j < 32; ++j)
    x[64 + j] = x[j] / 64.0f;
  roundToQ8_0(x.data(), 96, out.data());
  const float want[6] = {127.0f, 0.0f, 2.0f, -2.0f, -127.0f, 3.0f};
  for (int j = 0; j < 6; ++j) {
    EXPECT_EQ(out[j], want[j]) << j;
    EXPECT_FLOAT_EQ(out[64 + j], want[j] * (127.0f / 64.0f / 127.0f)) << j;
  }
  for (int j = 32; j < 64; ++j)
    EXPECT_EQ(out[j], 0.0f) << j;
  Tensor bad = Tensor::zerosF32({2, 48});
  EXPECT_FALSE(roundRows(bad, InputFormat::Q8_0).ok()); // rows must be whole blocks
}

// input_format bf16's rounding by hand: bf16 keeps 8 bits of mantissa, so
// 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 and goes to the even one (1),
// 1 + 3 * 2^-8 to 1 + 2^-6 (even); a value just past halfway rounds up; the
// sign, infinities and NaN stay; any row length (no blocks).
TEST(ReferenceOps, RoundToBf16ByHand) {
  const float h = std::ldexp(1.0f, -8);
  const std::vector<float> x = {1.0f + h, 1.0f + 3 * h, -(1.0f + h * 1.01f), 0.0f, INFINITY,
                                NAN,      3.0f};
  const std::vector<float> want = {1.0f, 1.0f + 4 * h, -(1.0f + 2 * h), 0.0f, INFINITY, NAN, 3.0f};
  Tensor in = Tensor::zerosF32({1, static_cast<int64_t>(x.size())});
  std::copy(x.begin(), x.end(), in.f.begin());
  auto out = roundRows(in, InputFormat::Bf16);
  ASSERT_TRUE(out.ok()) << out.status();
  for (size_t j = 0; j < x.size(); ++j) {
    if (std::isnan(want[j]))
      EXPECT_TRUE(std::isnan(out->f[j])) << j;
    else
      EXPECT_EQ(out->f[j], want[j]) << j;
  }
  EXPECT_FALSE(parseInputFormat("int4").ok());
}

TEST(ReferenceOps, RmsNormByHand) {
  // rms([3, 4]) = sqrt(12.5)
  auto y = rmsNorm(f32({2}, {3, 4}), f32({2}, {1, 2}), 0.0, false);
  ASSERT_TRUE(y.ok());
  double r = std::sqrt(12.5);
  expectNear(*y, f32({2}, {static_cast<float>(3 / r), static_cast<float>(8 / r)}), 1e-6);
  auto gemma = rmsNorm(f32({2}, {3, 4}), f32({2}, {0, 1}), 0.0, true); // (1 + w)
  expectNear(*gemma, f32({2}, {static_cast<float>(3 / r), static_cast<float>(8 / r)}), 1e-6);
}

TEST(ReferenceOps, LayerNormHasZeroMeanUnitVariance) {
  Tensor x = random({3, 16}, 1);
  auto y = layerNorm(x, f32({16}, std::vector<float>(16, 1.0f)), nullptr, 0.0);
  ASSERT_TRUE(y.ok());
  for (int r = 0; r < 3; ++r) {
    double mean = 0, var = 0;
    for (int d = 0; d < 16; ++d)
      mean += y->f[r * 16 + d];
    mean /= 16;
    for (int d = 0; d < 16; ++d)
      var += std::pow(y->f[r * 16 + d] - mean, 2);
    EXPECT_NEAR(mean, 0, 1e-6);
    EXPECT_NEAR(var / 16, 1, 1e-5);
  }
}

TEST(ReferenceOps, RopeAtPositionZeroIsIdentityAndPreservesNorms) {
  Tensor x = random({1, 2, 2, 8}, 2);
  for (RopeLayout layout : {RopeLayout::Interleaved, RopeLayout::HalfSplit}) {
    RopeParams p;
    p.layout = layout;
    auto y = rope(x, i64({1, 2}, {0, 5}), p);
    ASSERT_TRUE(y.ok()) << y.status();
    for (int i = 0; i < 16; ++i)
      EXPECT_EQ(y->f[i], x.f[i]); // position 0
    // Position 5: each rotated pair keeps its length.
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 4; ++i) {
        int a = layout == RopeLayout::Interleaved ? 2 * i : i;
        int b = layout == RopeLayout::Interleaved ? 2 * i + 1 : i + 4;
        int base = 16 + h * 8;
        EXPECT_NEAR(std::hypot(y->f[base + a], y->f[base + b]),
                    std::hypot(x.f[base + a], x.f[base + b]), 1e-6);
      }
  }
}

TEST(ReferenceOps, RopePartialRotaryDimLeavesTheRestAlone) {
  Tensor x = random({1, 1, 1, 8}, 3);
  RopeParams p;
  p.rotaryDim = 4;
  auto y = rope(x, i64({1, 1}, {7}), p);
  ASSERT_TRUE(y.ok());
  for (int i = 4; i < 8; ++i)
    EXPECT_EQ(y->f[i], x.f[i]);
  EXPECT_NE(y->f[0], x.f[0]);
}

TEST(ReferenceOps, AttentionOverOneKeyReturnsItsValue) {
  Tensor q = random({1, 1, 2, 4}, 4), k = random({1, 1, 2, 4}, 5), v = random({1, 1, 2, 3}, 6);
  auto o = attention(q, k, v, nullptr, nullptr, {});
  ASSERT_TRUE(o.ok()) << o.status();
  expectNear(*o, v, 1e-7);
}

TEST(ReferenceOps, CausalFirstQuerySeesOnlyFirstKey) {
  Tensor q = random({1, 3, 1, 4}, 7), k = random({1, 3, 1, 4}, 8), v = random({1, 3, 1, 4}, 9);
  AttentionParams p;
  p.causal = true;
  auto o = attention(q, k, v, nullptr, nullptr, p);
  ASSERT_TRUE(o.ok());
  for (int d = 0; d < 4; ++d)
    EXPECT_NEAR(o->f[d], v.f[d], 1e-7);
  // A window of 1 makes every query see only its own key.
  p.window = 1;
  auto w = attention(q, k, v, nullptr, nullptr, p);
  expectNear(*w, v, 1e-7);
}

TEST(ReferenceOps, GqaEqualsMhaWithRepeatedKvHeads) {
  Tensor q = random({2, 5, 4, 8}, 10), k = random({2, 5, 2, 8}, 11), v = random({2, 5, 2, 8}, 12);
  // Repeat each KV head for its group of 2 query heads.
  Tensor k4 = Tensor::zerosF32({2, 5, 4, 8}), v4 = Tensor::zerosF32({2, 5, 4, 8});
  for (int r = 0; r < 10; ++r)
    for (int h = 0; h < 4; ++h)
      for (int d = 0; d < 8; ++d) {
        k4.f[(r * 4 + h) * 8 + d] = k.f[(r * 2 + h / 2) * 8 + d];
        v4.f[(r * 4 + h) * 8 + d] = v.f[(r * 2 + h / 2) * 8 + d];
      }
  AttentionParams p;
  p.causal = true;
  auto gqa = attention(q, k, v, nullptr, nullptr, p);
  auto mha = attention(q, k4, v4, nullptr, nullptr, p);
  ASSERT_TRUE(gqa.ok() && mha.ok());
  expectNear(*gqa, *mha, 0);
}

TEST(ReferenceOps, FullyMaskedRowIsZeroAndSinksShrinkTheOutput) {
  Tensor q = random({1, 1, 1, 4}, 13), k = random({1, 2, 1, 4}, 14), v = random({1, 2, 1, 4}, 15);
  Tensor none = i64({1, 2}, {0, 0}, DType::I1);
  auto masked = attention(q, k, v, &none, nullptr, {});
  ASSERT_TRUE(masked.ok());
  for (float x : masked->f)
    EXPECT_EQ(x, 0.0f);
  // One visible key: without a sink the output is that value; a sink of
  // logit s takes exp(s)/(exp(s)+exp(score)) of the mass away.
  Tensor one = i64({1, 2}, {1, 0}, DType::I1);
  Tensor sink = f32({1}, {100.0f});
  auto sunk = attention(q, k, v, &one, &sink, {});
  ASSERT_TRUE(sunk.ok());
  for (float x : sunk->f)
    EXPECT_NEAR(x, 0.0f, 1e-6);
}

TEST(ReferenceOps, SoftmaxRowsSumToOne) {
  auto y = softmax(random({3, 7}, 16), 0);
  ASSERT_TRUE(y.ok());
  for (int c = 0; c < 7; ++c) {
    double s = 0;
    for (int r = 0; r < 3; ++r)
      s += y->f[r * 7 + c];
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
}

TEST(ReferenceOps, MoeWithOneExpertEqualsItsFfn) {
  Tensor x = random({3, 8}, 17);
  Tensor up = random({1, 16, 8}, 18), gate = random({1, 16, 8}, 19), down = random({1, 8, 16}, 20);
  Tensor up2 = reshape(up, {16, 8}).value(), gate2 = reshape(gate, {16, 8}).value(),
         down2 = reshape(down, {8, 16}).value();
  MoeParams p;
  p.normalizeTopK = true;
  auto y = moe(x, random({1, 8}, 21), {&up, &gate, &down}, nullptr, p);
  auto want = ffn(x, {&up2, &gate2, &down2}, nullptr, nullptr, {});
  ASSERT_TRUE(y.ok() && want.ok()) << y.status();
  expectNear(*y, *want, 1e-6);
}

TEST(ReferenceOps, EinsumMatmulEqualsLinear) {
  Tensor a = random({3, 5}, 22), w = random({4, 5}, 23);
  auto viaEinsum = einsum("ik,jk->ij", {&a, &w});
  auto viaLinear = linear(a, w, nullptr);
  ASSERT_TRUE(viaEinsum.ok() && viaLinear.ok());
  expectNear(*viaEinsum, *viaLinear, 1e-6);
}

TEST(ReferenceOps, SampleGreedyAndSeeded) {
  Tensor logits = f32({2, 4}, {0.1f, 3.0f, 3.0f, -1.0f, 2.0f, 0.0f, 0.0f, 5.0f});
  auto greedy = sample(logits, {});
  ASSERT_TRUE(greedy.ok());
  EXPECT_EQ(greedy->i, (std::vector<int64_t>{1, 3})); // ties go to the lower id
  SampleParams p;
  p.temperature = 1.0;
  p.topK = 1;
  EXPECT_EQ(sample(logits, p)->i, (std::vector<int64_t>{1, 3}));
  p.topK = 0;
  p.seed = 42;
  auto a = sample(logits, p), b = sample(logits, p);
  EXPECT_EQ(a->i, b->i); // same seed, same draw
  // Over many seeds a flat distribution visits every id.
  Tensor flat = f32({1, 4}, {0, 0, 0, 0});
  std::set<int64_t> seen;
  for (uint64_t s = 0; s < 64; ++s) {
    p.seed = s;
    seen.insert(sample(flat, p)->i[0]);
  }
  EXPECT_EQ(seen.size(), 4u);
}

TEST(ReferenceOps, KvCacheUpdateThenView) {
  Tensor cache = Tensor::zerosF32({1, 4, 1, 2});
  auto c1 = kvCacheUpdate(cache, f32({1, 2, 1, 2}, {1, 2, 3, 4}), 1);
  ASSERT_TRUE(c1.ok());
  auto view = kvCacheView(*c1, 3);
  ASSERT_TRUE(view.ok());
  expectNear(*view, f32({1, 3, 1, 2}, {0, 0, 1, 2, 3, 4}), 0);
}

TEST(ReferenceOpsErrors, RunTimeErrorsSayWhatIsWrong) {
  auto emb = embedding(random({4, 2}, 1), i64({1}, {9}), 1.0);
  ASSERT_FALSE(emb.ok());
  EXPECT_NE(emb.status().message().find("token id 9"), std::string_view::npos) << emb.status();
  EXPECT_NE(emb.status().message().find("[0, 4)"), std::string_view::npos);

  auto overflow = kvCacheUpdate(Tensor::zerosF32({1, 4, 1, 2}), Tensor::zerosF32({1, 2, 1, 2}), 3);
  ASSERT_FALSE(overflow.ok());
  EXPECT_NE(overflow.status().message().find("overflows a cache of 4 rows"),
            std::string_view::npos);

  auto view = kvCacheView(Tensor::zerosF32({1, 4, 1, 2}), 5);
  EXPECT_FALSE(view.ok());

  auto lin = linear(random({2, 3}, 1), random({4, 5}, 2), nullptr);
  ASSERT_FALSE(lin.ok());
  EXPECT_NE(lin.status().message().find("does not take input"), std::string_view::npos);

  auto bad = einsum("ij,jk", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("must be explicit"), std::string_view::npos);
}

} // namespace
} // namespace tessel::ref
