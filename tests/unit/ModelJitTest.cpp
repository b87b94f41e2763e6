//===- ModelJitTest.cpp - compiled models vs the reference evaluator ------===//
//
// Whole models through the compiler: config -> tessel IR -> CPU pipeline ->
// JIT, run teacher-forced on a token sequence (@forward) and through the
// runtime's KV-cache session (@step: prefill, then decode), and compared,
// logit by logit, with the reference evaluator on the same weights. Covers random-weight
// llama configs with MHA, GQA and MQA, the other dense architectures,
// mixture-of-experts models, and the real stories260K model.
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>

#include "codegen/Emit.h"
#include "codegen/Jit.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelToIR.h"
#include "frontends/WeightTypes.h"
#include "nlohmann/json.hpp"
#include "reference/ModelEvaluator.h"
#include "reference/Ops.h"
#include "runtime/Session.h"
#include "runtime/Weights.h"
#include "tests/unit/TestPaths.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using testing::kExamples;
using testing::kStories;

struct ModelCase {
  std::string name;
  std::string description; // file in examples/models, or a path
  int64_t kvHeads = 0;     // override num_key_value_heads (0: keep)
  std::string dtype;       // override the random weights' type ("": keep)
};

void PrintTo(const ModelCase &c, std::ostream *os) { *os << c.name; }

// Compiled logits minus reference logits, compared with a tolerance of
// 1e-4 absolute + 1e-4 relative: the compiled code accumulates in f32 over
// dims of at most a few hundred, the reference in f64.
// `pipeline` and `stored` default to the CPU's.
//
// With `roundedInputs` the compiled layers on stored q8_0 / q4_0 weights
// round their inputs to q8_0 and those on bf16 weights to bf16 (Session's
// default, CpuOptions::q8Activations / bf16Activations) and the reference
// does not: the bound is then kQ8InputLogitBound, the
// accuracy contract of that rounding on these models (their logits are
// O(1-5); the largest differences seen are 0.04-0.12, gemma's). (A reference that
// rounds too does not make the difference small: a value within ~1e-6 of a
// rounding tie goes to different integers on the two sides, and one such
// flip moves a tiny model's logits by ~1e-2. RoundedInputs.* check that the
// two agree on the same inputs.)
constexpr double kQ8InputLogitBound = 0.25;

void expectCompiledMatchesReference(
    const frontends::LoadedModel &m,
    const std::vector<codegen::PipelineStage> &pipeline = codegen::cpuPipeline(),
    std::optional<std::map<std::string, std::string>> stored = std::nullopt,
    bool roundedInputs = false) {
  std::vector<int32_t> tokens = {1, 7, 42, 3, 99, 5, 17, 2};
  auto reference = ref::ModelEvaluator::create(m);
  ASSERT_TRUE(reference.ok()) << reference.status();
  auto want = (*reference)->forward(tokens);
  ASSERT_TRUE(want.ok()) << want.status();

  // On the CPU pipeline the layers are compiled both spelled out and as
  // shared block functions (EntryPoints::shareLayers): the same kernels in
  // the same order, so the logits must be the same bits.
  const bool cpu = codegen::pipelineText(pipeline) == codegen::pipelineText(codegen::cpuPipeline());
  std::vector<float> spelledOut;
  for (bool share : {false, true}) {
    if (share && !cpu)
      break;
    SCOPED_TRACE(share ? "layers as shared blocks" : "layers spelled out");
    // The weights the kernels read in their stored form (bf16, q8_0, q4_0
    // matrices of linear layers) are passed as the file's bytes.
    frontends::EntryPoints forwardOnly;
    forwardOnly.step = false;
    forwardOnly.shareLayers = share;
    forwardOnly.storedWeights =
        stored ? *stored : runtime::storedWeightFormats(m.config, m.weights);
    if (roundedInputs)
      forwardOnly.inputFormats =
          runtime::roundedInputFormats(forwardOnly.storedWeights, /*q8=*/true, /*bf16=*/true);
    auto ir = frontends::modelToMlir(m.config, m.path, /*debugInfo=*/false, forwardOnly);
    ASSERT_TRUE(ir.ok()) << ir.status();
    ASSERT_EQ(ir->find("func.func private @block_0") != std::string::npos, share);
    auto jit = codegen::JitModule::compile(*ir, m.path, pipeline);
    ASSERT_TRUE(jit.ok()) << jit.status();
    auto weights = runtime::bindWeights(m.weights, **jit, "forward");
    ASSERT_TRUE(weights.ok()) << weights.status();
    ref::TokenInputs in = ref::tokenInputs(tokens.data(), static_cast<int64_t>(tokens.size()));
    std::vector<codegen::BufferRef> args = {codegen::BufferRef::of(in.ids),
                                            codegen::BufferRef::of(in.positions)};
    args.insert(args.end(), weights->args.begin(), weights->args.end());
    auto got = (*jit)->call("forward", args);
    ASSERT_TRUE(got.ok()) << got.status();
    const ref::Tensor &logits = (*got)[0];
    ASSERT_EQ(logits.numel(), want->numel());
    double worst = 0;
    for (int64_t i = 0; i < want->numel(); ++i) {
      double err = std::abs(logits.f[i] - want->f[i]);
      worst = std::max(worst, err);
      ASSERT_LE(err, roundedInputs ? kQ8InputLogitBound : 1e-4 + 1e-4 * std::abs(want->f[i]))
          << "logit " << i;
    }
    if (roundedInputs) // the rounding happened: these are not the f32 inputs' logits
      EXPECT_GT(worst, 1e-3);
    std::vector<float> flat(logits.f.begin(), logits.f.begin() + logits.numel());
    if (!share) {
      spelledOut = flat;
      ::testing::Test::RecordProperty(roundedInputs ? "q8_inputs_max_abs_error" : "max_abs_error",
                                      std::to_string(worst));
    } else {
      EXPECT_EQ(flat, spelledOut) << "sharing the layers' code changed the logits";
    }
  }
}

// Row `position` of the reference's [1, n, vocab] logits against `got`,
// with the tolerance stated above.
void expectLogitsRow(const ref::Tensor &want, const std::vector<float> &got, size_t position,
                     bool roundedInputs = false) {
  const int64_t vocab = want.shape.back();
  ASSERT_EQ(static_cast<int64_t>(got.size()), vocab);
  for (int64_t v = 0; v < vocab; ++v) {
    float r = want.f[position * vocab + v];
    ASSERT_NEAR(got[v], r, roundedInputs ? kQ8InputLogitBound : 1e-4 + 1e-4 * std::abs(r))
        << "position " << position << ", logit " << v;
  }
}

// The runtime's path: @step with a KV cache, prefilled with a few tokens and
// then fed one token at a time, must give at every position the logits the
// reference computes for the whole sequence at once (same tolerance as
// above). A reset and a second, longer prefill reuse the cache. The session
// keeps f32 inputs unless `roundedInputs` (then the bound is kQ8InputLogitBound).
void expectSessionMatchesReference(const std::string &path, bool roundedInputs = false) {
  std::vector<int32_t> tokens = {1, 7, 42, 3, 99, 5, 17, 2};
  auto m = frontends::loadModel(path);
  ASSERT_TRUE(m.ok()) << m.status();
  auto reference = ref::ModelEvaluator::create(*m);
  ASSERT_TRUE(reference.ok()) << reference.status();
  auto want = (*reference)->forward(tokens);
  ASSERT_TRUE(want.ok()) << want.status();

  auto forSession = frontends::loadModel(path);
  ASSERT_TRUE(forSession.ok()) << forSession.status();
  runtime::SessionOptions options;
  options.cpu.q8Activations = options.cpu.bf16Activations = roundedInputs;
  auto session = runtime::Session::create(std::move(*forSession), options);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE((*session)->hasKvCache());
  auto expectRow = [&](const std::vector<float> &got, size_t position) {
    expectLogitsRow(*want, got, position, roundedInputs);
  };
  for (size_t prefill : {3, 6}) {
    (*session)->reset();
    auto logits = (*session)->append({tokens.begin(), tokens.begin() + prefill});
    ASSERT_TRUE(logits.ok()) << logits.status();
    expectRow(*logits, prefill - 1);
    for (size_t i = prefill; i < tokens.size(); ++i) {
      auto next = (*session)->append({tokens[i]});
      ASSERT_TRUE(next.ok()) << next.status();
      expectRow(*next, i);
    }
    EXPECT_EQ((*session)->position(), static_cast<int64_t>(tokens.size()));
  }
}

class ModelJitTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelJitTest, CompiledLogitsMatchTheReference) {
  const ModelCase &c = GetParam();
  fs::path path = kExamples / c.description;
  if (c.kvHeads || !c.dtype.empty()) {
    std::ifstream in(path);
    json j = json::parse(in);
    if (c.kvHeads)
      j["num_key_value_heads"] = c.kvHeads;
    if (!c.dtype.empty())
      j["weights"]["random"]["dtype"] = c.dtype;
    path = fs::path(::testing::TempDir()) / (c.name + ".json");
    std::ofstream(path) << j.dump();
  }
  auto m = frontends::loadModel(path.string());
  ASSERT_TRUE(m.ok()) << m.status();
  expectCompiledMatchesReference(*m);
  expectSessionMatchesReference(path.string());
  if (c.dtype == "q8_0" || c.dtype == "q4_0" || c.dtype == "bf16") {
    SCOPED_TRACE("inputs rounded to q8_0 / bf16");
    expectCompiledMatchesReference(*m, codegen::cpuPipeline(), std::nullopt,
                                   /*roundedInputs=*/true);
    expectSessionMatchesReference(path.string(), /*roundedInputs=*/true);
  }
}

INSTANTIATE_TEST_SUITE_P(Dense, ModelJitTest,
                         ::testing::Values(ModelCase{"llama_mha", "tiny-llama.json", 8},
                                           ModelCase{"llama_gqa", "tiny-llama.json", 4},
                                           ModelCase{"llama_mqa", "tiny-llama.json", 1},
                                           ModelCase{"llama3_freq_factors", "tiny-llama3.json"},
                                           ModelCase{"mistral_window", "tiny-mistral.json"},
                                           ModelCase{"qwen2_qkv_bias", "tiny-qwen2.json"},
                                           ModelCase{"gemma_geglu", "tiny-gemma.json"},
                                           ModelCase{"gpt2_layernorm_gelu", "tiny-gpt2.json"}),
                         [](const auto &info) { return info.param.name; });

// Weights the kernels read in their stored form (bf16, q8_0, q4_0 blocks:
// tessel_linear_q*, dequantized in registers or per cache block) give the
// reference's logits on the same dequantized values; the gated FFN's
// activation is then a call of its own.
INSTANTIATE_TEST_SUITE_P(Stored, ModelJitTest,
                         ::testing::Values(ModelCase{"llama_q8_0", "tiny-llama.json", 0, "q8_0"},
                                           ModelCase{"llama_q4_0", "tiny-llama.json", 0, "q4_0"},
                                           ModelCase{"llama_bf16", "tiny-llama.json", 0, "bf16"},
                                           ModelCase{"gemma_q8_0", "tiny-gemma.json", 0, "q8_0"},
                                           ModelCase{"qwen2_bias_q4_0", "tiny-qwen2.json", 0,
                                                     "q4_0"}),
                         [](const auto &info) { return info.param.name; });

// Mixtures of experts (tessel.moe as one call of the MoE kernel): Mixtral
// (SwiGLU experts, top-2 of 4, softmax, normalised); a hybrid of a dense
// layer and MoE layers with q8_0 weights and a sliding window; DeepSeek-V2
// (a dense first layer, then experts with a shared expert and raw softmax
// weights; MLA attention). Stored expert stacks (q4_0, q8_0, bf16) are read
// by the MoE kernel in place (tessel_moe_q*), as are the shared experts,
// the dense FFN and the output projection of the MLA model.
INSTANTIATE_TEST_SUITE_P(
    MoE, ModelJitTest,
    ::testing::Values(ModelCase{"mixtral", "tiny-mixtral.json"},
                      ModelCase{"hybrid_moe", "hybrid-moe.json"},
                      ModelCase{"deepseek2_shared_experts", "tiny-deepseek2.json"},
                      ModelCase{"mixtral_q4_0", "tiny-mixtral.json", 0, "q4_0"},
                      ModelCase{"deepseek2_q8_0", "tiny-deepseek2.json", 0, "q8_0"},
                      ModelCase{"deepseek2_bf16", "tiny-deepseek2.json", 0, "bf16"}),
    [](const auto &info) { return info.param.name; });

// Where the weights live does not change the numbers: copied onto huge
// pages (the default) or used in place in the mapped file (--mmap), the
// same code gives bit-identical logits, prefill and decode, for f32 weights
// (stories260K) and for stored q8_0 matrices beside dequantized q8_0
// embeddings (tiny-llama q8_0).
TEST(ModelJit, WeightPlacementsGiveTheSameLogits) {
  std::ifstream in(kExamples / "tiny-llama.json");
  json j = json::parse(in);
  j["weights"]["random"]["dtype"] = "q8_0";
  const fs::path q8 = fs::path(::testing::TempDir()) / "placement-q8_0.json";
  std::ofstream(q8) << j.dump();
  for (const std::string &path : {kStories.string(), q8.string()}) {
    SCOPED_TRACE(path);
    std::vector<std::vector<float>> logits[2];
    for (int placement = 0; placement < 2; ++placement) {
      auto m = frontends::loadModel(path);
      ASSERT_TRUE(m.ok()) << m.status();
      runtime::SessionOptions options;
      options.weights =
          placement ? runtime::WeightPlacement::kInPlace : runtime::WeightPlacement::kHugePages;
      auto session = runtime::Session::create(std::move(*m), options);
      ASSERT_TRUE(session.ok()) << session.status();
      for (const std::vector<int32_t> &tokens :
           std::vector<std::vector<int32_t>>{{1, 7, 42, 3}, {99}, {5}}) {
        auto got = (*session)->append(tokens);
        ASSERT_TRUE(got.ok()) << got.status();
        logits[placement].push_back(*got);
      }
    }
    EXPECT_EQ(logits[0], logits[1]);
  }
}

// --quantize: an f32 model's linear-layer matrices converted at load; the
// kernels then read the converted blocks, and the reference evaluates the
// same converted values. Embeddings and norms stay f32.
TEST(ModelJit, QuantizedAtLoadMatchesTheReference) {
  for (frontends::WeightType type :
       {frontends::WeightType::Q8_0, frontends::WeightType::Q4_0, frontends::WeightType::BF16}) {
    SCOPED_TRACE(frontends::weightTypeInfo(type).name);
    auto m = frontends::loadModel((kExamples / "tiny-llama.json").string());
    ASSERT_TRUE(m.ok()) << m.status();
    auto count = runtime::quantizeWeights(*m, type);
    ASSERT_TRUE(count.ok()) << count.status();
    // 2 layers x (q, k, v, output, gate, up, down) + the output projection;
    // ffn_down's rows (ffn_hidden = 172 values) fill no whole 32-blocks.
    const int64_t expected = type == frontends::WeightType::BF16 ? 2 * 7 + 1 : 2 * 6 + 1;
    EXPECT_EQ(*count, expected);
    EXPECT_EQ(static_cast<int64_t>(runtime::storedWeightFormats(m->config, m->weights).size()),
              expected);
    EXPECT_EQ((*m->weights.get("token_embd.weight"))->type, frontends::WeightType::F32);
    expectCompiledMatchesReference(*m);
  }
}

// The CUDA pipeline up to its tensor stages, finished by the CPU's: what
// the GPU kernels of the `gpu` stage are generated from (every op in
// linalg, elementwise ops fused, bf16 weights dequantized from their bytes)
// computes the model, checked on a machine without a GPU. Attention takes
// the FlashAttention loops here; its GPU kernels are checked on their own.
std::vector<codegen::PipelineStage> cudaTensorStagesThenCpu() {
  std::vector<codegen::PipelineStage> gpu = codegen::gpuPipeline(), cpu = codegen::cpuPipeline();
  std::vector<codegen::PipelineStage> stages;
  for (codegen::PipelineStage &s : gpu)
    if (s.name == "tiled" || s.name == "linalg")
      stages.push_back(s);
  // Passes that build GPU kernels have nothing to build for on the CPU.
  for (const char *gpuOnly : {"tessel-attention-to-gpu,", "tessel-linear-to-gpu-mma,"})
    codegen::setPassOptions(stages, gpuOnly, "");
  for (codegen::PipelineStage &s : cpu)
    if (s.name == "kernel" || s.name == "llvm")
      stages.push_back(s);
  return stages;
}

TEST(ModelJit, CudaTensorStagesMatchTheReference) {
  ASSERT_TRUE(fs::exists(kStories)) << kStories << " is missing: the tests need ../shared";
  auto stories = frontends::loadModel(kStories.string());
  ASSERT_TRUE(stories.ok()) << stories.status();
  expectCompiledMatchesReference(
      *stories, cudaTensorStagesThenCpu(),
      runtime::gpuStoredWeightFormats(stories->config, stories->weights));
  // bf16 projections stay stored on the GPU.
  auto m = frontends::loadModel((kExamples / "tiny-llama.json").string());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(runtime::quantizeWeights(*m, frontends::WeightType::BF16).ok());
  auto stored = runtime::gpuStoredWeightFormats(m->config, m->weights);
  EXPECT_EQ(stored.size(), 2u * 7 + 1); // q, k, v, output, gate, up, down per layer + the output
  expectCompiledMatchesReference(*m, cudaTensorStagesThenCpu(), stored);
  // f16 too (no CPU kernel reads it: tessel-lower-to-linalg dequantizes it).
  auto h = frontends::loadModel((kExamples / "tiny-llama.json").string());
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(runtime::quantizeWeights(*h, frontends::WeightType::F16).ok());
  auto halves = runtime::gpuStoredWeightFormats(h->config, h->weights);
  EXPECT_EQ(halves.size(), 2u * 7 + 1);
  EXPECT_EQ(halves["blk.0.ffn_down.weight"], "f16");
  expectCompiledMatchesReference(*h, cudaTensorStagesThenCpu(), halves);
  // ... and the CPU pipeline given f16 storage leaves it to linalg as well.
  expectCompiledMatchesReference(*h, codegen::cpuPipeline(), halves);
}

// tessel.moe in linalg (top-k rounds, the picked experts' weights gathered)
// on the CUDA pipeline's tensor stages: Mixtral (softmax, normalised),
// DeepSeek-V2 (MLA, shared experts) and a hybrid of dense and MoE layers.
TEST(ModelJit, CudaTensorStagesRunMixturesOfExperts) {
  for (const char *name : {"tiny-mixtral.json", "tiny-deepseek2.json", "hybrid-moe.json"}) {
    SCOPED_TRACE(name);
    auto m = frontends::loadModel((kExamples / name).string());
    ASSERT_TRUE(m.ok()) << m.status();
    expectCompiledMatchesReference(*m, cudaTensorStagesThenCpu(),
                                   runtime::gpuStoredWeightFormats(m->config, m->weights));
  }
}

// How often `needle` occurs in `text`.
size_t occurrences(const std::string &text, const std::string &needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

// The IR of `m` with EntryPoints::shareLayers (and `stored` weights).
std::string sharedLayersIr(const frontends::LoadedModel &m, bool step,
                           const std::map<std::string, std::string> &stored = {}) {
  frontends::EntryPoints entries;
  entries.step = step;
  entries.shareLayers = true;
  entries.storedWeights = stored;
  auto ir = frontends::modelToMlir(m.config, m.path, /*debugInfo=*/false, entries);
  EXPECT_TRUE(ir.ok()) << ir.status();
  return ir.ok() ? *ir : std::string();
}

// Shared layers: every layer of stories260K is the same block, so @forward
// and @step each call one private function five times, each call naming
// its layer's weights by prefix; the block itself names weights relative to
// the layer.
TEST(SharedLayers, LayersAlikeCallOneBlock) {
  ASSERT_TRUE(fs::exists(kStories)) << kStories << " is missing: the tests need ../shared";
  auto m = frontends::loadModel(kStories.string());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->config.numLayers, 5);
  std::string ir = sharedLayersIr(*m, /*step=*/true);
  EXPECT_EQ(occurrences(ir, "func.func private @block_"), 2u) << ir;
  EXPECT_EQ(occurrences(ir, "call @block_0("), 5u); // @forward
  EXPECT_EQ(occurrences(ir, "call @block_1("), 5u); // @step, with the caches
  for (int layer = 0; layer < 5; ++layer)
    EXPECT_EQ(occurrences(ir, "tessel.weight_prefix = \"blk." + std::to_string(layer) + ".\""), 2u);
  size_t block = ir.find("func.func private @block_0");
  std::string body = ir.substr(block, ir.find("func.func", block + 1) - block);
  EXPECT_NE(body.find("tessel.weight \"attn_q.weight\""), std::string::npos) << body;
  EXPECT_EQ(body.find("\"blk."), std::string::npos) << body;
}

// Layers that differ get blocks of their own: DeepSeek-V2's dense first
// layer and its MoE layers; the hybrid's dense layer, windowed MoE layer and
// full-attention MoE layer; and a llama layer whose query projection alone
// is stored q8_0.
TEST(SharedLayers, LayersThatDifferGetTheirOwnBlocks) {
  for (auto [name, blocks] : {std::pair{"tiny-deepseek2.json", 2u},
                              {"hybrid-moe.json", 3u},
                              {"tiny-mixtral.json", 1u},
                              {"tiny-mistral.json", 1u}}) {
    SCOPED_TRACE(name);
    auto m = frontends::loadModel((kExamples / name).string());
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(occurrences(sharedLayersIr(*m, /*step=*/false), "func.func private @block_"), blocks);
  }
  auto llama = frontends::loadModel((kExamples / "tiny-llama.json").string());
  ASSERT_TRUE(llama.ok()) << llama.status();
  std::string ir = sharedLayersIr(*llama, /*step=*/false, {{"blk.1.attn_q.weight", "q8_0"}});
  EXPECT_EQ(occurrences(ir, "func.func private @block_"), 2u);
  EXPECT_NE(ir.find("@block_1(%2, %arg1) {tessel.weight_prefix = \"blk.1.\"}"), std::string::npos)
      << ir;
}

// What "compiled once whatever the depth" means in the lowered code: a
// 2-layer and an 8-layer llama have the same kernel calls in their LLVM
// dialect (the blocks'); only the calls of the blocks grow with depth.
TEST(SharedLayers, KernelCallsDoNotGrowWithDepth) {
  std::map<int, std::string> llvm;
  for (int layers : {2, 8}) {
    std::ifstream in(kExamples / "tiny-llama.json");
    json j = json::parse(in);
    j["num_hidden_layers"] = layers;
    fs::path path = fs::path(::testing::TempDir()) / ("llama" + std::to_string(layers) + ".json");
    std::ofstream(path) << j.dump();
    auto m = frontends::loadModel(path.string());
    ASSERT_TRUE(m.ok()) << m.status();
    auto text = codegen::emitStage(sharedLayersIr(*m, /*step=*/true), path.string(), "llvm");
    ASSERT_TRUE(text.ok()) << text.status();
    llvm[layers] = *text;
    EXPECT_EQ(occurrences(*text, "llvm.call @block_"), 2u * layers); // @forward and @step
  }
  size_t kernels = occurrences(llvm[2], "llvm.call @tessel_");
  EXPECT_GT(kernels, 0u);
  EXPECT_EQ(occurrences(llvm[8], "llvm.call @tessel_"), kernels);
}

TEST(ModelJit, Stories260KCompiledMatchesReference) {
  ASSERT_TRUE(fs::exists(kStories)) << kStories << " is missing: the tests need ../shared";
  auto m = frontends::loadModel(kStories.string());
  ASSERT_TRUE(m.ok()) << m.status();
  expectCompiledMatchesReference(*m);
  expectSessionMatchesReference(kStories.string());
}

} // namespace
} // namespace tessel

namespace tessel {
namespace {

// DeepSeek-V2's MLA with dense FFNs (MoE layers have their own tests):
// @forward runs the naive form (tessel-lower-mla), the Session's @step the
// weight-absorbed form over a cache of latents; both must give the
// reference's logits. The cache holds kv_lora_rank + qk_rope_dim floats per
// token per layer, nothing per head.
TEST(ModelJit, MlaNaiveAndAbsorbedMatchTheReference) {
  for (int64_t qLoraRank : {0, 24}) {
    std::ifstream in(kExamples / "tiny-deepseek2.json");
    json j = json::parse(in);
    j["first_k_dense_replace"] = j["num_hidden_layers"];
    j["q_lora_rank"] = qLoraRank;
    fs::path path = fs::path(::testing::TempDir()) /
                    ("deepseek2_dense_q" + std::to_string(qLoraRank) + ".json");
    std::ofstream(path) << j.dump();
    auto m = frontends::loadModel(path.string());
    ASSERT_TRUE(m.ok()) << m.status();
    expectCompiledMatchesReference(*m);
    expectSessionMatchesReference(path.string());

    auto again = frontends::loadModel(path.string());
    ASSERT_TRUE(again.ok()) << again.status();
    const frontends::ModelConfig c = again->config;
    auto session = runtime::Session::create(std::move(*again));
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ((*session)->kvCacheBytes(), c.numLayers * c.contextLength *
                                              (c.kvLoraRank + c.qkRopeDim) *
                                              static_cast<int64_t>(sizeof(float)));
  }
}

} // namespace
} // namespace tessel

namespace tessel {
namespace {

// A sliding-window model (every layer windowed) keeps a rolling cache of
// window - 1 + 256 rows whatever the context: a 300-token prompt prefills in
// two chunks with a roll between them, then 20 tokens decode one at a time,
// and every step's logits equal the reference's full-sequence windowed
// attention (tolerance as above). The cache's size does not grow with the
// context.
TEST(ModelJit, SlidingWindowRollingCacheMatchesTheReference) {
  const fs::path path = kExamples / "tiny-mistral.json";
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 320; ++i)
    tokens.push_back((i * 37 + 11) % 300 + 3);
  auto m = frontends::loadModel(path.string());
  ASSERT_TRUE(m.ok()) << m.status();
  auto reference = ref::ModelEvaluator::create(*m);
  ASSERT_TRUE(reference.ok()) << reference.status();
  auto want = (*reference)->forward(tokens);
  ASSERT_TRUE(want.ok()) << want.status();
  auto expectRow = [&](const std::vector<float> &got, size_t position) {
    expectLogitsRow(*want, got, position);
  };

  int64_t bytes = 0;
  for (int64_t context : {0, 4096}) {
    auto model = frontends::loadModel(path.string());
    ASSERT_TRUE(model.ok()) << model.status();
    const int64_t window = model->config.layers[0].window;
    ASSERT_GT(window, 0);
    runtime::SessionOptions options;
    options.context = context;
    auto session = runtime::Session::create(std::move(*model), options);
    ASSERT_TRUE(session.ok()) << session.status();
    if (bytes == 0)
      bytes = (*session)->kvCacheBytes();
    EXPECT_EQ((*session)->kvCacheBytes(), bytes) << "context " << context;
    if (context != 0)
      continue;
    auto logits = (*session)->append({tokens.begin(), tokens.begin() + 300});
    ASSERT_TRUE(logits.ok()) << logits.status();
    expectRow(*logits, 299);
    for (size_t i = 300; i < tokens.size(); ++i) {
      auto next = (*session)->append({tokens[i]});
      ASSERT_TRUE(next.ok()) << next.status();
      expectRow(*next, i);
    }
  }
}

} // namespace
} // namespace tessel

namespace tessel {
namespace {

// A stored [n, k] matrix of `type`: its bytes and its dequantized values.
struct StoredMatrix {
  std::vector<uint8_t> bytes;
  ref::Tensor values;
};

StoredMatrix storedMatrix(frontends::WeightType type, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  std::vector<float> w(n * k);
  for (float &v : w)
    v = dist(gen);
  const auto &info = frontends::weightTypeInfo(type);
  const int64_t rowBytes = k / info.blockElems * info.blockBytes;
  StoredMatrix s;
  s.bytes.resize(n * rowBytes);
  s.values = ref::Tensor::zerosF32({n, k});
  for (int64_t j = 0; j < n; ++j) {
    frontends::quantizeRow(type, w.data() + j * k, s.bytes.data() + j * rowBytes, k);
    frontends::dequantizeRow(type, s.bytes.data() + j * rowBytes, s.values.f.data() + j * k, k);
  }
  return s;
}

// [rows, cols] values uniform in [-2, 2).
ref::Tensor randomRows(int64_t rows, int64_t cols, uint32_t seed) {
  ref::Tensor t = ref::Tensor::zerosF32({rows, cols});
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (float &v : t.f)
    v = dist(gen);
  return t;
}

// A stored matrix's bytes as a JIT argument (tensor<Nxi8>).
codegen::BufferRef bytesArg(const StoredMatrix &m) {
  return codegen::BufferRef{ref::DType::I8,
                            const_cast<uint8_t *>(m.bytes.data()),
                            {static_cast<int64_t>(m.bytes.size())}};
}

// input_format on the same inputs: a linear layer and a gated FFN on
// stored q8_0 / q4_0 weights with "q8_0", and on bf16 weights with "bf16",
// compiled (tessel-lower-to-kernels -> tessel_linear_q* / tessel_glu_q_f32
// with the input format -> kernels::gemmQuant's roundInput) against the
// reference's rounding and f64 products (reference/Ops.cpp), within 1e-4
// absolute + 1e-4 relative: the integer block products (bf16 products) are
// exact on both sides, and with identical inputs no value rounds
// differently. 9 rows take the panel kernels, 5 the tiles (q8_0) or the
// dequantized GEMM (bf16), 1 the GEMV; k = 96 and hidden = 160 end in
// partial groups of the q8_0 kernels' four blocks.
TEST(RoundedInputs, LinearAndFfnMatchTheReferenceOnTheSameInputs) {
  const int64_t k = 96, n = 40, hidden = 160;
  for (frontends::WeightType type :
       {frontends::WeightType::Q8_0, frontends::WeightType::Q4_0, frontends::WeightType::BF16}) {
    const char *format = frontends::weightTypeInfo(type).name;
    const bool bf16 = type == frontends::WeightType::BF16;
    const std::string inputFormat = bf16 ? "bf16" : "q8_0";
    const ref::InputFormat rounding = bf16 ? ref::InputFormat::Bf16 : ref::InputFormat::Q8_0;
    const StoredMatrix w = storedMatrix(type, n, k, 1), up = storedMatrix(type, hidden, k, 2),
                       gate = storedMatrix(type, hidden, k, 3),
                       down = storedMatrix(type, k, hidden, 4);
    for (int64_t rows : {9, 5, 1}) {
      SCOPED_TRACE(std::string(format) + ", " + std::to_string(rows) + " rows");
      auto bytesType = [](const StoredMatrix &m) {
        return "tensor<" + std::to_string(m.bytes.size()) + "xi8>";
      };
      const std::string x = "tensor<" + std::to_string(rows) + "x96xf32>";
      const std::string ir =
          "func.func @f(%x: " + x + ", %wb: " + bytesType(w) + ", %ub: " + bytesType(up) +
          ", %gb: " + bytesType(gate) + ", %db: " + bytesType(down) + ") -> (tensor<" +
          std::to_string(rows) + "x40xf32>, " + x + ") {\n" +
          "  %w = tessel.dequantize %wb {format = \"" + format + "\"} : " + bytesType(w) +
          " -> tensor<40x96xf32>\n" + "  %u = tessel.dequantize %ub {format = \"" + format +
          "\"} : " + bytesType(up) + " -> tensor<160x96xf32>\n" +
          "  %g = tessel.dequantize %gb {format = \"" + format + "\"} : " + bytesType(gate) +
          " -> tensor<160x96xf32>\n" + "  %d = tessel.dequantize %db {format = \"" + format +
          "\"} : " + bytesType(down) + " -> tensor<96x160xf32>\n" +
          "  %y = tessel.linear %x, %w {input_format = \"" + inputFormat + "\"} : (" + x +
          ", tensor<40x96xf32>) -> tensor<" + std::to_string(rows) + "x40xf32>\n" +
          "  %h = tessel.ffn %x up(%u) gate(%g) down(%d) {activation = "
          "#tessel.activation<swiglu>, input_format = \"" +
          inputFormat + "\"} : (" + x +
          ", tensor<160x96xf32>, tensor<160x96xf32>, tensor<96x160xf32>) -> " + x + "\n" +
          "  return %y, %h : tensor<" + std::to_string(rows) + "x40xf32>, " + x + "\n}\n";
      auto jit = codegen::JitModule::compile(ir, "q8-inputs");
      ASSERT_TRUE(jit.ok()) << jit.status() << "\n" << ir;

      ref::Tensor in = randomRows(rows, k, 7);
      auto got = (*jit)->call("f", {codegen::BufferRef::of(in), bytesArg(w), bytesArg(up),
                                    bytesArg(gate), bytesArg(down)});
      ASSERT_TRUE(got.ok()) << got.status();

      auto rounded = ref::roundRows(in, rounding);
      ASSERT_TRUE(rounded.ok()) << rounded.status();
      auto wantLinear = ref::linear(*rounded, w.values, nullptr);
      ASSERT_TRUE(wantLinear.ok()) << wantLinear.status();
      ref::FfnParams p{ref::Activation::SwiGLU, false, rounding};
      ref::FfnWeights fw{&up.values, &gate.values, &down.values};
      auto wantFfn = ref::ffn(in, fw, nullptr, nullptr, p);
      ASSERT_TRUE(wantFfn.ok()) << wantFfn.status();
      for (auto [result, want] :
           {std::pair<const ref::Tensor *, const ref::Tensor *>{&(*got)[0], &*wantLinear},
            {&(*got)[1], &*wantFfn}}) {
        ASSERT_EQ(result->numel(), want->numel());
        for (int64_t i = 0; i < want->numel(); ++i)
          ASSERT_NEAR(result->f[i], want->f[i], 1e-4 + 1e-4 * std::abs(want->f[i])) << i;
      }
      // The rounding is there: without it the linear layer differs.
      auto unrounded = ref::linear(in, w.values, nullptr);
      double moved = 0;
      for (int64_t i = 0; i < unrounded->numel(); ++i)
        moved = std::max(moved, static_cast<double>(std::abs(unrounded->f[i] - (*got)[0].f[i])));
      EXPECT_GT(moved, 1e-3);
    }
  }
}

// The same for tessel.moe: stored q4_0 expert stacks (4 experts, top 2) and
// q8_0 shared experts, whose products all round their inputs (the router
// reads x as it is), against the reference's moe on the same inputs.
TEST(RoundedInputs, MoeMatchesTheReferenceOnTheSameInputs) {
  const int64_t dim = 96, hidden = 64, experts = 4, rows = 6;
  const auto q4 = frontends::WeightType::Q4_0, q8 = frontends::WeightType::Q8_0;
  StoredMatrix up = storedMatrix(q4, experts * hidden, dim, 11),
               gate = storedMatrix(q4, experts * hidden, dim, 12),
               down = storedMatrix(q4, experts * dim, hidden, 13);
  StoredMatrix sup = storedMatrix(q8, hidden, dim, 14), sgate = storedMatrix(q8, hidden, dim, 15),
               sdown = storedMatrix(q8, dim, hidden, 16);
  up.values.shape = gate.values.shape = {experts, hidden, dim};
  down.values.shape = {experts, dim, hidden};
  ref::Tensor router = storedMatrix(q8, experts, dim, 17).values; // any f32 values
  auto bytes = [](const StoredMatrix &m) { return std::to_string(m.bytes.size()); };
  const std::string ir =
      "func.func @f(%x: tensor<6x96xf32>, %r: tensor<4x96xf32>, %u: tensor<" + bytes(up) +
      "xi8>, %g: tensor<" + bytes(gate) + "xi8>, %d: tensor<" + bytes(down) + "xi8>, %su: tensor<" +
      bytes(sup) + "xi8>, %sg: tensor<" + bytes(sgate) + "xi8>, %sd: tensor<" + bytes(sdown) +
      "xi8>) -> tensor<6x96xf32> {\n" +
      "  %up = tessel.dequantize %u {format = \"q4_0\"} : tensor<" + bytes(up) +
      "xi8> -> tensor<4x64x96xf32>\n" +
      "  %gate = tessel.dequantize %g {format = \"q4_0\"} : tensor<" + bytes(gate) +
      "xi8> -> tensor<4x64x96xf32>\n" +
      "  %down = tessel.dequantize %d {format = \"q4_0\"} : tensor<" + bytes(down) +
      "xi8> -> tensor<4x96x64xf32>\n" +
      "  %sup = tessel.dequantize %su {format = \"q8_0\"} : tensor<" + bytes(sup) +
      "xi8> -> tensor<64x96xf32>\n" +
      "  %sgate = tessel.dequantize %sg {format = \"q8_0\"} : tensor<" + bytes(sgate) +
      "xi8> -> tensor<64x96xf32>\n" +
      "  %sdown = tessel.dequantize %sd {format = \"q8_0\"} : tensor<" + bytes(sdown) +
      "xi8> -> tensor<96x64xf32>\n" +
      "  %y = tessel.moe %x router(%r) experts(%up, %gate, %down) shared(%sup, %sgate, %sdown) "
      "{top_k = 2 : i64, scoring = #tessel.moe_scoring<softmax>, normalize_top_k, activation = "
      "#tessel.activation<swiglu>, input_format = \"q8_0\"} : (tensor<6x96xf32>, "
      "tensor<4x96xf32>, tensor<4x64x96xf32>, tensor<4x64x96xf32>, tensor<4x96x64xf32>, "
      "tensor<64x96xf32>, tensor<64x96xf32>, tensor<96x64xf32>) -> tensor<6x96xf32>\n"
      "  return %y : tensor<6x96xf32>\n}\n";
  auto jit = codegen::JitModule::compile(ir, "q8-inputs-moe");
  ASSERT_TRUE(jit.ok()) << jit.status() << "\n" << ir;
  ref::Tensor in = randomRows(rows, dim, 9);
  auto got = (*jit)->call("f", {codegen::BufferRef::of(in), codegen::BufferRef::of(router),
                                bytesArg(up), bytesArg(gate), bytesArg(down), bytesArg(sup),
                                bytesArg(sgate), bytesArg(sdown)});
  ASSERT_TRUE(got.ok()) << got.status();
  ref::MoeParams p;
  p.topK = 2, p.scoring = ref::MoeScoring::Softmax, p.normalizeTopK = true;
  p.ffn = ref::FfnParams{ref::Activation::SwiGLU, false, ref::InputFormat::Q8_0};
  ref::FfnWeights e{&up.values, &gate.values, &down.values},
      sh{&sup.values, &sgate.values, &sdown.values};
  auto want = ref::moe(in, router, e, &sh, p);
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_EQ((*got)[0].numel(), want->numel());
  for (int64_t i = 0; i < want->numel(); ++i)
    ASSERT_NEAR((*got)[0].f[i], want->f[i], 1e-4 + 1e-4 * std::abs(want->f[i])) << i;
  p.ffn.inputs = ref::InputFormat::F32; // and the rounding is there
  auto unrounded = ref::moe(in, router, e, &sh, p);
  double moved = 0;
  for (int64_t i = 0; i < want->numel(); ++i)
    moved = std::max(moved, static_cast<double>(std::abs(unrounded->f[i] - (*got)[0].f[i])));
  EXPECT_GT(moved, 1e-3);
}

} // namespace
} // namespace tessel
