//===- JitTest.cpp - compiled code vs its references ----------------------===//
//
// Programs compiled by the CPU pipeline (tessel passes -> bufferization ->
// loops -> LLVM -> ORC JIT) and run: the einsum golden cases the reference
// evaluator is checked against (PyTorch), and attention in each of its
// lowerings (FlashAttention loops, the kernel call, split-KV decode)
// against the reference's naive attention.
//
//===----------------------------------------------------------------------===//
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "codegen/Jit.h"
#include "nlohmann/json.hpp"
#include "reference/Ops.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kGoldenDir = fs::path(TESSEL_SOURCE_DIR) / "tests" / "golden" / "data";

ref::Tensor fromJson(const json &j) {
  ref::Tensor t;
  t.shape = j.at("shape").get<std::vector<int64_t>>();
  if (j.at("dtype") == "f32") {
    t.f = j.at("data").get<std::vector<float>>();
  } else {
    t.dtype = j.at("dtype") == "i1" ? ref::DType::I1 : ref::DType::I64;
    t.i = j.at("data").get<std::vector<int64_t>>();
  }
  return t;
}

std::vector<std::string> casesOf(const std::string &family) {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(kGoldenDir)) {
    std::ifstream in(e.path());
    if (json::parse(in).at("family") == family)
      names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class JitGoldenTest : public ::testing::TestWithParam<std::string> {};

// Accumulation is f32 in compiled code (f64 in the goldens); contractions
// here are at most a few dozen long, so 1e-5 relative + 1e-5 absolute is
// ample. MLA goes through tessel-lower-mla, then the kernel calls and the
// attention kernel (or the tiles, with a padding mask).
TEST_P(JitGoldenTest, CompiledMatchesPyTorch) {
  std::ifstream in(kGoldenDir / (GetParam() + ".json"));
  json c = json::parse(in);
  auto jit = codegen::JitModule::compile(c.at("mlir").get<std::string>(), GetParam());
  ASSERT_TRUE(jit.ok()) << jit.status();
  std::vector<ref::Tensor> inputs;
  for (const json &a : c.at("inputs"))
    inputs.push_back(fromJson(a));
  auto out = (*jit)->run("main", inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), c.at("outputs").size());
  for (size_t r = 0; r < out->size(); ++r) {
    ref::Tensor want = fromJson(c.at("outputs")[r]);
    ASSERT_EQ((*out)[r].shape, want.shape);
    for (size_t i = 0; i < want.f.size(); ++i)
      ASSERT_NEAR((*out)[r].f[i], want.f[i], 1e-5 + 1e-5 * std::abs(want.f[i])) << "at " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Einsum, JitGoldenTest, ::testing::ValuesIn(casesOf("einsum")),
                         [](const auto &info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Mla, JitGoldenTest, ::testing::ValuesIn(casesOf("mla")),
                         [](const auto &info) { return info.param; });

TEST(Jit, DynamicShapesAndErrors) {
  auto jit = codegen::JitModule::compile(R"mlir(
func.func @t(%a: tensor<?x3xf32>) -> tensor<3x?xf32> {
  %s = tessel.einsum "ij->ji" %a : (tensor<?x3xf32>) -> tensor<3x?xf32>
  return %s : tensor<3x?xf32>
})mlir",
                                         "dyn.mlir");
  ASSERT_TRUE(jit.ok()) << jit.status();
  ref::Tensor a = ref::Tensor::zerosF32({2, 3});
  a.f = {1, 2, 3, 4, 5, 6};
  auto out = (*jit)->run("t", {a});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ((*out)[0].f, (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_FALSE((*jit)->run("t", {}).ok());
  EXPECT_FALSE((*jit)->run("nope", {a}).ok());
  auto bad = codegen::JitModule::compile("func.func @f(", "bad.mlir");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.mlir"), std::string_view::npos);
}

// The linalg lowering of a bf16 tessel.dequantize (what the CUDA pipeline
// runs for stored weights its tensor-core GEMM does not take), compiled for
// the CPU with the kernel folding taken out: every value is the byte pair
// moved to the high half of an f32, exactly.
TEST(Jit, Bf16DequantizeLowersToLinalgExactly) {
  std::vector<codegen::PipelineStage> pipeline = codegen::cpuPipeline();
  codegen::setPassOptions(pipeline, "tessel-lower-to-kernels,", "");
  auto jit = codegen::JitModule::compile(R"mlir(
func.func @d(%bytes: tensor<40xi8>) -> tensor<4x5xf32> {
  %w = tessel.dequantize %bytes {format = "bf16"} : tensor<40xi8> -> tensor<4x5xf32>
  return %w : tensor<4x5xf32>
})mlir",
                                         "dequantize.mlir", pipeline);
  ASSERT_TRUE(jit.ok()) << jit.status();
  std::mt19937 rng(7);
  std::vector<uint8_t> bytes(40);
  std::vector<float> expected(20);
  for (int e = 0; e < 20; ++e) {
    // Any finite bf16: random sign and mantissa, exponent below all-ones.
    uint16_t bits =
        static_cast<uint16_t>(rng() & 0x807f) | static_cast<uint16_t>((rng() % 255) << 7);
    bytes[2 * e] = static_cast<uint8_t>(bits & 0xff);
    bytes[2 * e + 1] = static_cast<uint8_t>(bits >> 8);
    uint32_t f32bits = static_cast<uint32_t>(bits) << 16;
    std::memcpy(&expected[e], &f32bits, sizeof(float));
  }
  codegen::BufferRef in{ref::DType::I8, bytes.data(), {40}};
  auto out = (*jit)->call("d", {in});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{4, 5}));
  EXPECT_EQ((*out)[0].f, expected);
}

// FlashAttention tiling (tessel-tile-attention) compiled and run, against
// the reference's naive attention: context lengths from 1 to 4096, tile
// sizes that do not divide them, GQA/MQA, causal masks, sliding windows,
// padding masks with fully masked rows, and sinks. Tolerance: 1e-5
// relative + 1e-6 absolute (the compiled code accumulates in f32).
struct FlashCase {
  std::string name;
  int64_t qLen, kvLen, heads, kvHeads, tile;
  bool causal = true;
  int64_t window = 0;
  bool mask = false, sinks = false;
};

// gtest prints the parameter in test listings: its name says enough.
void PrintTo(const FlashCase &c, std::ostream *os) { *os << c.name; }

std::string attentionModule(const FlashCase &c) {
  std::string q = "tensor<1x?x" + std::to_string(c.heads) + "x8xf32>";
  std::string kv = "tensor<1x?x" + std::to_string(c.kvHeads) + "x8xf32>";
  std::string args = "%q: " + q + ", %k: " + kv + ", %v: " + kv;
  std::string operands = "%q, %k, %v";
  std::string types = q + ", " + kv + ", " + kv;
  if (c.mask) {
    args += ", %m: tensor<1x?xi1>";
    operands += " mask(%m)";
    types += ", tensor<1x?xi1>";
  }
  if (c.sinks) {
    args += ", %s: tensor<" + std::to_string(c.heads) + "xf32>";
    operands += " sinks(%s)";
    types += ", tensor<" + std::to_string(c.heads) + "xf32>";
  }
  std::string attrs = "num_heads = " + std::to_string(c.heads) +
                      " : i64, num_kv_heads = " + std::to_string(c.kvHeads) + " : i64";
  if (c.causal)
    attrs += ", causal";
  if (c.window)
    attrs += ", window = " + std::to_string(c.window) + " : i64";
  return "func.func @attn(" + args + ") -> " + q + " {\n  %o = tessel.attention " + operands +
         " {" + attrs + "} : (" + types + ") -> " + q + "\n  return %o : " + q + "\n}\n";
}

class FlashAttentionTest : public ::testing::TestWithParam<FlashCase> {};

// The CPU pipeline with attention as tessel-tile-attention's loops.
std::vector<codegen::PipelineStage> loopsPipeline() {
  codegen::CpuOptions options;
  options.attentionKernel = false;
  return codegen::cpuPipeline(options);
}

// Compiles the case's attention with `pipeline` and compares it with the
// reference (naive softmax attention) to 1e-5 relative + 1e-6 absolute, on
// normal random inputs drawn from `seed`. With `c.mask`, key j is visible
// where `keyVisible(j)`.
void expectAttentionMatchesReference(const FlashCase &c,
                                     const std::vector<codegen::PipelineStage> &pipeline,
                                     uint64_t seed,
                                     const std::function<bool(int64_t)> &keyVisible) {
  auto jit = codegen::JitModule::compile(attentionModule(c), c.name, pipeline);
  ASSERT_TRUE(jit.ok()) << jit.status();

  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random = [&](std::vector<int64_t> shape) {
    ref::Tensor t = ref::Tensor::zerosF32(shape);
    for (float &x : t.f)
      x = normal(rng);
    return t;
  };
  ref::Tensor q = random({1, c.qLen, c.heads, 8}), k = random({1, c.kvLen, c.kvHeads, 8}),
              v = random({1, c.kvLen, c.kvHeads, 8});
  std::vector<ref::Tensor> args = {q, k, v};
  ref::Tensor mask = ref::Tensor::zerosI64({1, c.kvLen}, ref::DType::I1);
  for (int64_t j = 0; j < c.kvLen; ++j)
    mask.i[j] = keyVisible(j);
  if (c.mask)
    args.push_back(mask);
  ref::Tensor sinks = random({c.heads});
  if (c.sinks)
    args.push_back(sinks);
  ref::AttentionParams p;
  p.causal = c.causal;
  p.window = c.window;
  auto want = ref::attention(q, k, v, c.mask ? &mask : nullptr, c.sinks ? &sinks : nullptr, p);
  ASSERT_TRUE(want.ok()) << want.status();
  auto got = (*jit)->run("attn", args);
  ASSERT_TRUE(got.ok()) << got.status();
  const ref::Tensor &out = (*got)[0];
  ASSERT_EQ(out.shape, want->shape);
  for (size_t i = 0; i < out.f.size(); ++i)
    ASSERT_NEAR(out.f[i], want->f[i], 1e-6 + 1e-5 * std::abs(want->f[i])) << "at " << i;
}

// Some keys padded away; with more than one key the first is too, so the
// first query (causal) sees nothing and must give zeros.
void expectFlashCaseMatches(const FlashCase &c,
                            const std::vector<codegen::PipelineStage> &pipeline) {
  expectAttentionMatchesReference(c, pipeline, c.qLen * 131 + c.kvLen, [&](int64_t j) {
    return j % 3 != 1 && !(j == 0 && c.kvLen > 1);
  });
}

// The FlashAttention loops tessel-tile-attention generates.
TEST_P(FlashAttentionTest, TiledEqualsNaive) {
  const FlashCase &c = GetParam();
  std::vector<codegen::PipelineStage> pipeline = loopsPipeline();
  codegen::setPassOptions(pipeline, "tessel-tile-attention",
                          "tessel-tile-attention{kv-tile-size=" + std::to_string(c.tile) + "}");
  expectFlashCaseMatches(c, pipeline);
}

// The default CPU pipeline: one call of the Highway flash-attention kernel
// (its own 128-key tiles; split-KV across threads for decode). Cases with a
// mask or sinks still take the loops.
TEST_P(FlashAttentionTest, KernelEqualsNaive) {
  expectFlashCaseMatches(GetParam(), codegen::cpuPipeline());
}

INSTANTIATE_TEST_SUITE_P(
    Tiles, FlashAttentionTest,
    ::testing::Values(FlashCase{"len1", 1, 1, 4, 2, 7}, FlashCase{"len2_tile1", 2, 2, 2, 2, 1},
                      FlashCase{"len13_tile5_gqa", 13, 13, 4, 2, 5},
                      FlashCase{"len64_tile64_mqa", 64, 64, 4, 1, 64},
                      FlashCase{"len100_tile7", 100, 100, 2, 2, 7},
                      FlashCase{"len257_tile64_gqa", 257, 257, 4, 2, 64},
                      FlashCase{"len1024_tile96", 1024, 1024, 2, 1, 96},
                      FlashCase{"len4096_tile100_window", 4096, 4096, 2, 1, 100, true, 512},
                      FlashCase{"len4096_tile128_causal", 4096, 4096, 2, 2, 128},
                      FlashCase{"decode_q1_kv300", 1, 300, 4, 2, 32},
                      FlashCase{"chunk_q5_kv50", 5, 50, 4, 2, 16},
                      FlashCase{"noncausal_len40", 40, 40, 2, 2, 16, false},
                      // Encoder-decoder cross-attention: 3 decoder queries
                      // over 9 encoder states, not causal, padded encoder.
                      FlashCase{"cross_q3_kv9_masked", 3, 9, 4, 4, 4, false, 0, true},
                      FlashCase{"window8_len90_tile16", 90, 90, 4, 2, 16, true, 8},
                      FlashCase{"window1_len20", 20, 20, 2, 1, 3, true, 1},
                      FlashCase{"masked_rows_len30", 30, 30, 2, 2, 4, true, 0, true},
                      FlashCase{"sinks_window_len50", 50, 50, 4, 2, 8, true, 5, false, true},
                      FlashCase{"sinks_masked_len12", 12, 12, 2, 1, 5, true, 0, true, true}),
    [](const auto &info) { return info.param.name; });

// Split-KV (flash-decoding) attention (tessel-split-kv-attention) compiled
// and run, against the reference's naive attention: q_len 1..4 over
// contexts of 1 to 4096 keys, split counts that do not divide the context
// or exceed it, GQA/MQA, causal and not, sliding windows, padding masks
// that leave whole splits (or whole rows) without a visible key, and sinks
// (which must count once, not once per split). Tolerance as for
// FlashAttentionTest.
enum class SplitMask { None, Pattern, Prefix, All };

struct SplitKvCase {
  std::string name;
  int64_t qLen, kvLen, heads, kvHeads, splits, tile;
  bool causal = true;
  int64_t window = 0;
  SplitMask mask = SplitMask::None;
  bool sinks = false;
  // -1: the split path alone lowers every op (tessel-tile-attention is not
  // run, so an op left unsplit would fail to compile). Otherwise the
  // default pipeline's order, split then tile, with a run-time choice on
  // the dynamic q_len.
  int64_t maxQueryLen = -1;
};

void PrintTo(const SplitKvCase &c, std::ostream *os) { *os << c.name; }

class SplitKvAttentionTest : public ::testing::TestWithParam<SplitKvCase> {};

TEST_P(SplitKvAttentionTest, SplitEqualsNaive) {
  const SplitKvCase &c = GetParam();
  FlashCase shape{c.name, c.qLen, c.kvLen, c.heads, c.kvHeads, c.tile, c.causal, c.window};
  shape.mask = c.mask != SplitMask::None;
  shape.sinks = c.sinks;
  std::string split = "tessel-split-kv-attention{num-splits=" + std::to_string(c.splits) +
                      " kv-tile-size=" + std::to_string(c.tile) +
                      " max-query-len=" + std::to_string(c.maxQueryLen) + "}";
  std::vector<codegen::PipelineStage> pipeline = loopsPipeline();
  codegen::setPassOptions(pipeline, "tessel-tile-attention",
                          c.maxQueryLen < 0 ? split
                                            : split + ",tessel-tile-attention{kv-tile-size=" +
                                                  std::to_string(c.tile) + "}");
  expectAttentionMatchesReference(
      shape, pipeline, c.qLen * 131 + c.kvLen * 7 + c.splits, [&](int64_t j) {
        switch (c.mask) {
        case SplitMask::Pattern: // some keys padded away, key 0 too
          return j != 0 && j % 3 != 1;
        case SplitMask::Prefix: // left padding: the first splits see nothing
          return j >= c.kvLen * 3 / 4;
        case SplitMask::All: // every row sees nothing: zeros
          return false;
        case SplitMask::None:
          break;
        }
        return true;
      });
}

// Every q_len in 1..4 against every context length, cycling through split
// counts, tile sizes and head layouts so that each length meets several.
std::vector<SplitKvCase> splitKvSweep() {
  const int64_t kvLens[] = {1, 5, 63, 64, 65, 1000, 4096};
  const int64_t splits[] = {4, 3, 7, 2, 16};
  const int64_t tiles[] = {64, 16, 5};
  const std::pair<int64_t, int64_t> heads[] = {{4, 2}, {4, 1}, {2, 2}}; // GQA, MQA, MHA
  std::vector<SplitKvCase> cases;
  int n = 0;
  for (int64_t q = 1; q <= 4; ++q)
    for (int64_t kv : kvLens) {
      if (q > kv)
        continue; // causal attention needs q_len <= kv_len
      auto [h, kvh] = heads[n % 3];
      SplitKvCase c{"", q, kv, h, kvh, splits[n % 5], tiles[n % 3]};
      c.causal = n % 4 != 3;
      c.name = "q" + std::to_string(q) + "_kv" + std::to_string(kv) + "_s" +
               std::to_string(c.splits) + "_t" + std::to_string(c.tile) + "_h" + std::to_string(h) +
               "x" + std::to_string(kvh) + (c.causal ? "" : "_noncausal");
      cases.push_back(c);
      ++n;
    }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sweep, SplitKvAttentionTest, ::testing::ValuesIn(splitKvSweep()),
                         [](const auto &info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Cases, SplitKvAttentionTest,
    ::testing::Values(
        // More splits than keys (or than tiles): the extra splits are empty.
        SplitKvCase{"more_splits_than_keys", 1, 5, 4, 2, 8, 1},
        SplitKvCase{"one_key_four_splits", 1, 1, 4, 1, 4, 64},
        SplitKvCase{"kv65_one_tile_spills", 1, 65, 2, 2, 4, 64},
        // Splits that do not divide the context: 384 + 384 + 232 keys.
        SplitKvCase{"kv1000_3_splits", 2, 1000, 4, 2, 3, 64},
        SplitKvCase{"kv4096_q1_mqa_32_splits", 1, 4096, 8, 1, 32, 64},
        // Windows: only the last W keys are split (and a window wider than
        // the context).
        SplitKvCase{"window100_kv4096", 4, 4096, 4, 2, 4, 16, true, 100},
        SplitKvCase{"window1_q3", 3, 63, 2, 1, 4, 8, true, 1},
        SplitKvCase{"window5000_kv1000", 1, 1000, 2, 2, 4, 64, true, 5000},
        // Masks: rows with no visible key (q4 kv5: the first two keys are
        // masked), whole splits with no visible key, every key masked.
        SplitKvCase{"mask_pattern_q4_kv5", 4, 5, 2, 2, 4, 1, true, 0, SplitMask::Pattern},
        SplitKvCase{"mask_pattern_q1_kv1000", 1, 1000, 4, 2, 4, 16, true, 0, SplitMask::Pattern},
        SplitKvCase{"mask_prefix_kv1000", 2, 1000, 4, 2, 4, 16, true, 0, SplitMask::Prefix},
        SplitKvCase{"mask_prefix_noncausal", 3, 65, 2, 1, 7, 4, false, 0, SplitMask::Prefix},
        SplitKvCase{"mask_all", 2, 64, 2, 2, 4, 8, true, 0, SplitMask::All},
        // Sinks: once in the combine, with empty splits, windows and masks.
        SplitKvCase{"sinks_kv1000", 1, 1000, 4, 2, 4, 64, true, 0, SplitMask::None, true},
        SplitKvCase{"sinks_more_splits_than_keys", 2, 5, 4, 1, 16, 2, true, 0, SplitMask::None,
                    true},
        SplitKvCase{"sinks_window_kv4096", 4, 4096, 4, 2, 4, 64, true, 128, SplitMask::None, true},
        SplitKvCase{"sinks_mask_prefix", 1, 300, 2, 2, 4, 16, true, 0, SplitMask::Prefix, true},
        SplitKvCase{"sinks_mask_all", 3, 63, 4, 2, 4, 16, true, 0, SplitMask::All, true},
        // The run-time choice on a dynamic q_len (max-query-len=4): q_len <= 4
        // takes the split path, longer queries the plain loop.
        SplitKvCase{"dispatch_q1", 1, 300, 4, 2, 4, 32, true, 0, SplitMask::None, false, 4},
        SplitKvCase{"dispatch_q4_sinks", 4, 300, 4, 2, 4, 32, true, 0, SplitMask::Pattern, true, 4},
        SplitKvCase{"dispatch_q5_plain", 5, 300, 4, 2, 4, 32, true, 0, SplitMask::Pattern, true, 4},
        SplitKvCase{"dispatch_q64_window", 64, 1000, 4, 1, 4, 32, true, 100, SplitMask::None, false,
                    4}),
    [](const auto &info) { return info.param.name; });

} // namespace
} // namespace tessel
