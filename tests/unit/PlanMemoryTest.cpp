//===- PlanMemoryTest.cpp - whole models with static memory planning ------===//
//
// tessel-plan-memory inserted into the CPU pipeline's kernel stage (after
// tessel-drop-aliased-results, before deallocation), on whole models (every
// dense example architecture with random weights, and stories260K):
//   * @forward logits match the reference evaluator (1e-4 + 1e-4 relative)
//     and are bit-identical to the unplanned pipeline's: planning moves
//     buffers, never arithmetic, so any difference is a wrong reuse;
//   * @step (prefill, then one token at a time on a KV cache) matches the
//     reference at every position;
//   * the plan on stories260K is inspectable: buffers of different layers
//     share slots, and far fewer bytes are allocated.
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <filesystem>
#include <iostream>

#include "codegen/Jit.h"
#include "codegen/Lowering.h"
#include "codegen/Pipeline.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelToIR.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "reference/ModelEvaluator.h"
#include "tests/unit/TestPaths.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

namespace fs = std::filesystem;

using testing::kExamples;
using testing::kStories;

bool hasPlanMemory(const std::vector<codegen::PipelineStage> &stages) {
  return codegen::pipelineText(stages).find("tessel-plan-memory") != std::string::npos;
}

/// The CPU pipeline with tessel-plan-memory where it belongs (right after
/// tessel-drop-aliased-results), whether or not cpuPipeline() has it yet.
std::vector<codegen::PipelineStage> plannedPipeline(const codegen::CpuOptions &options = {}) {
  std::vector<codegen::PipelineStage> stages = codegen::cpuPipeline(options);
  if (!hasPlanMemory(stages))
    codegen::setPassOptions(stages, "tessel-drop-aliased-results",
                            "tessel-drop-aliased-results,tessel-plan-memory");
  return stages;
}

/// The CPU pipeline without it: what planning is compared against.
std::vector<codegen::PipelineStage> unplannedPipeline(const codegen::CpuOptions &options = {}) {
  std::vector<codegen::PipelineStage> stages = codegen::cpuPipeline(options);
  codegen::setPassOptions(stages, "tessel-drop-aliased-results,tessel-plan-memory",
                          "tessel-drop-aliased-results");
  return stages;
}

std::vector<ref::Tensor> f32Weights(const frontends::LoadedModel &m,
                                    const std::vector<std::string> &names) {
  std::vector<ref::Tensor> out;
  for (const std::string &name : names) {
    auto w = m.weights.get(name);
    EXPECT_TRUE(w.ok()) << w.status();
    if (!w.ok())
      return {};
    ref::Tensor t = ref::Tensor::zerosF32((*w)->shape);
    t.f = (*w)->toF32();
    out.push_back(std::move(t));
  }
  return out;
}

/// @forward's logits for `tokens` through `stages`.
absl::StatusOr<ref::Tensor> compiledForward(const frontends::LoadedModel &m,
                                            const std::vector<int32_t> &tokens,
                                            const std::vector<codegen::PipelineStage> &stages) {
  frontends::EntryPoints forwardOnly;
  forwardOnly.step = false;
  auto ir = frontends::modelToMlir(m.config, m.path, /*debugInfo=*/false, forwardOnly);
  if (!ir.ok())
    return ir.status();
  auto jit = codegen::JitModule::compile(*ir, m.path, stages);
  if (!jit.ok())
    return jit.status();
  auto names = (*jit)->weightNames("forward");
  if (!names.ok())
    return names.status();
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<ref::Tensor> args(2, ref::Tensor::zerosI64({1, n}));
  for (int64_t i = 0; i < n; ++i) {
    args[0].i[i] = tokens[i];
    args[1].i[i] = i;
  }
  for (ref::Tensor &w : f32Weights(m, *names))
    args.push_back(std::move(w));
  auto got = (*jit)->run("forward", args);
  if (!got.ok())
    return got.status();
  return std::move((*got)[0]);
}

std::vector<int32_t> someTokens(int64_t n, int64_t vocab) {
  std::vector<int32_t> tokens;
  for (int64_t i = 0; i < n; ++i)
    tokens.push_back(static_cast<int32_t>((1 + 7 * i + i * i) % vocab));
  return tokens;
}

// Attention as the kernel call (the default) and as FlashAttention loops,
// whose running state is carried through scf.for iter_args.
const codegen::CpuOptions kAttentionPaths[] = {{/*attentionKernel=*/true},
                                               {/*attentionKernel=*/false}};

// Teacher-forced logits: planned == unplanned bit for bit, and both match
// the reference. 70 tokens cross a 64-key attention tile.
void expectForwardMatches(const frontends::LoadedModel &m, const codegen::CpuOptions &options) {
  auto reference = ref::ModelEvaluator::create(m);
  ASSERT_TRUE(reference.ok()) << reference.status();
  for (int64_t n : {1, 8, 70}) {
    SCOPED_TRACE("tokens: " + std::to_string(n));
    std::vector<int32_t> tokens = someTokens(n, m.config.vocabSize);
    auto want = (*reference)->forward(tokens);
    ASSERT_TRUE(want.ok()) << want.status();
    auto planned = compiledForward(m, tokens, plannedPipeline(options));
    ASSERT_TRUE(planned.ok()) << planned.status();
    auto unplanned = compiledForward(m, tokens, unplannedPipeline(options));
    ASSERT_TRUE(unplanned.ok()) << unplanned.status();
    ASSERT_EQ(planned->numel(), want->numel());
    ASSERT_EQ(planned->f, unplanned->f) << "planning changed the logits";
    for (int64_t i = 0; i < want->numel(); ++i)
      ASSERT_NEAR(planned->f[i], want->f[i], 1e-4 + 1e-4 * std::abs(want->f[i])) << "logit " << i;
  }
}

// The runtime's path, as runtime::Session drives it (which always compiles
// with the default pipeline): @step on a KV cache, prefilled, then fed one
// token at a time, twice (the second time with a longer prefill over the
// same, now dirty, cache).
void expectStepMatches(const frontends::LoadedModel &m, const codegen::CpuOptions &options) {
  const frontends::ModelConfig &c = m.config;
  const int64_t context = 96;
  std::vector<int32_t> tokens = someTokens(12, c.vocabSize);
  auto reference = ref::ModelEvaluator::create(m);
  ASSERT_TRUE(reference.ok()) << reference.status();
  auto want = (*reference)->forward(tokens);
  ASSERT_TRUE(want.ok()) << want.status();
  const int64_t vocab = want->shape.back();

  frontends::EntryPoints stepOnly;
  stepOnly.forward = false;
  stepOnly.cacheLength = context;
  auto ir = frontends::modelToMlir(c, m.path, /*debugInfo=*/false, stepOnly);
  ASSERT_TRUE(ir.ok()) << ir.status();
  auto jit = codegen::JitModule::compile(*ir, m.path, plannedPipeline(options));
  ASSERT_TRUE(jit.ok()) << jit.status();
  auto names = (*jit)->weightNames("step");
  ASSERT_TRUE(names.ok()) << names.status();
  std::vector<ref::Tensor> weights = f32Weights(m, *names);
  std::vector<ref::Tensor> caches;
  for (int64_t i = 0; i < 2 * c.numLayers; ++i)
    caches.push_back(ref::Tensor::zerosF32({1, context, c.numKvHeads, c.headDim}));

  // Runs tokens [first, last) at their positions; checks the last row.
  auto append = [&](size_t first, size_t last) {
    const int64_t count = static_cast<int64_t>(last - first);
    ref::Tensor ids = ref::Tensor::zerosI64({1, count}), positions = ids;
    for (int64_t i = 0; i < count; ++i) {
      ids.i[i] = tokens[first + i];
      positions.i[i] = static_cast<int64_t>(first) + i;
    }
    ref::Tensor fill = ref::Tensor::zerosI64({}); // rows the caches hold
    fill.i[0] = static_cast<int64_t>(first);
    std::vector<codegen::BufferRef> args = {codegen::BufferRef::of(ids),
                                            codegen::BufferRef::of(positions),
                                            codegen::BufferRef::of(fill)};
    for (ref::Tensor &t : caches)
      args.push_back(codegen::BufferRef::of(t));
    for (ref::Tensor &t : weights)
      args.push_back(codegen::BufferRef::of(t));
    auto out = (*jit)->call("step", args);
    ASSERT_TRUE(out.ok()) << out.status();
    const ref::Tensor &logits = (*out)[0];
    ASSERT_GE(logits.numel(), vocab);
    for (int64_t v = 0; v < vocab; ++v) {
      float got = logits.f[logits.numel() - vocab + v];
      float expected = want->f[(last - 1) * vocab + v];
      ASSERT_NEAR(got, expected, 1e-4 + 1e-4 * std::abs(expected))
          << "position " << last - 1 << ", logit " << v;
    }
  };
  for (size_t prefill : {3, 7}) {
    SCOPED_TRACE("prefill " + std::to_string(prefill));
    append(0, prefill);
    for (size_t i = prefill; i < tokens.size(); ++i)
      append(i, i + 1);
  }
}

TEST(PlanMemory, PipelinesWithAndWithoutThePass) {
  for (const codegen::CpuOptions &options : kAttentionPaths) {
    std::string planned = codegen::pipelineText(plannedPipeline(options));
    EXPECT_NE(planned.find("tessel-drop-aliased-results,tessel-plan-memory"), std::string::npos)
        << planned;
    EXPECT_LT(planned.find("tessel-plan-memory"), planned.find("buffer-deallocation-pipeline"));
    EXPECT_FALSE(hasPlanMemory(unplannedPipeline(options)))
        << "tessel-plan-memory sits elsewhere in cpuPipeline(): update unplannedPipeline()";
  }
}

// Every dense architecture of examples/models (random weights): norms,
// biases, activations, windows and RoPE variants make different buffers.
class PlanMemoryModels : public ::testing::TestWithParam<std::string> {};

TEST_P(PlanMemoryModels, MatchesReference) {
  auto m = frontends::loadModel((kExamples / GetParam()).string());
  ASSERT_TRUE(m.ok()) << m.status();
  for (const codegen::CpuOptions &options : kAttentionPaths) {
    SCOPED_TRACE(options.attentionKernel ? "attention kernel" : "attention loops");
    expectForwardMatches(*m, options);
    expectStepMatches(*m, options);
  }
}

INSTANTIATE_TEST_SUITE_P(Dense, PlanMemoryModels,
                         ::testing::Values("tiny-llama.json", "tiny-llama3.json",
                                           "tiny-mistral.json", "tiny-qwen2.json",
                                           "tiny-gemma.json", "tiny-gpt2.json"),
                         [](const auto &info) {
                           std::string name = info.param.substr(5, info.param.size() - 10);
                           return name;
                         });

TEST(PlanMemory, Stories260KMatchesReference) {
  ASSERT_TRUE(fs::exists(kStories)) << kStories << " is missing: the tests need ../shared";
  auto m = frontends::loadModel(kStories.string());
  ASSERT_TRUE(m.ok()) << m.status();
  for (const codegen::CpuOptions &options : kAttentionPaths) {
    SCOPED_TRACE(options.attentionKernel ? "attention kernel" : "attention loops");
    expectForwardMatches(*m, options);
    expectStepMatches(*m, options);
  }
}

// The plan on stories260K's @forward, with the model's names in locations:
// slots hold buffers of several layers, and the bytes allocated for the
// planned buffers shrink.
TEST(PlanMemory, Stories260KPlanIsInspectable) {
  ASSERT_TRUE(fs::exists(kStories)) << kStories << " is missing: the tests need ../shared";
  auto m = frontends::loadModel(kStories.string());
  ASSERT_TRUE(m.ok()) << m.status();
  frontends::EntryPoints forwardOnly;
  forwardOnly.step = false;
  auto ir = frontends::modelToMlir(m->config, m->path, /*debugInfo=*/true, forwardOnly);
  ASSERT_TRUE(ir.ok()) << ir.status();

  mlir::MLIRContext context;
  codegen::prepareContext(context);
  codegen::DiagnosticCollector diagnostics(context);
  auto module = codegen::parseModule(context, *ir, m->path, diagnostics);
  ASSERT_TRUE(module.ok()) << module.status();
  std::vector<codegen::PipelineStage> stages = plannedPipeline();
  std::string upToKernel = "builtin.module(tessel-weights-to-arguments)";
  ASSERT_TRUE(codegen::runPipeline(**module, upToKernel, m->path, diagnostics).ok());
  for (const codegen::PipelineStage &s : stages) {
    auto st = codegen::runPipeline(**module, s.passes, m->path, diagnostics);
    ASSERT_TRUE(st.ok()) << st;
    if (s.name == "kernel")
      break;
  }
  auto fn = (*module)->lookupSymbol<mlir::func::FuncOp>("forward");
  ASSERT_TRUE(fn);
  auto plan = fn->getAttrOfType<mlir::DictionaryAttr>("tessel.memory_plan");
  ASSERT_TRUE(plan) << "no tessel.memory_plan on @forward";
  auto integer = [&](const char *key) {
    auto a = plan.getAs<mlir::IntegerAttr>(key);
    return a ? a.getInt() : -1;
  };
  auto text = [&](const char *key) {
    auto a = plan.getAs<mlir::StringAttr>(key);
    return a ? a.str() : std::string("?");
  };
  auto slots = plan.getAs<mlir::ArrayAttr>("slots");
  ASSERT_TRUE(slots);
  EXPECT_GT(integer("planned"), 0);
  EXPECT_EQ(integer("reused"), integer("planned") - static_cast<int64_t>(slots.size()));
  // Five layers of the same buffers: most allocations are reuses.
  EXPECT_GT(integer("reused"), integer("planned") / 2);

  // Some slot serves layer 0 and layer 4.
  bool acrossLayers = false;
  for (mlir::Attribute a : slots) {
    bool first = false, last = false;
    for (mlir::Attribute n : mlir::cast<mlir::DictionaryAttr>(a).getAs<mlir::ArrayAttr>("names")) {
      llvm::StringRef name = mlir::cast<mlir::StringAttr>(n).getValue();
      first |= name.starts_with("blk.0.");
      last |= name.starts_with("blk.4.");
    }
    acrossLayers |= first && last;
  }
  EXPECT_TRUE(acrossLayers) << "no slot holds buffers of blk.0 and blk.4";

  // "N * arg0.dim1": bytes per token of the sequence.
  auto perToken = [](const std::string &s) -> int64_t {
    size_t star = s.find(" * arg0.dim1");
    return star == std::string::npos ? -1 : std::stoll(s.substr(0, star));
  };
  int64_t before = perToken(text("bytes_before")), after = perToken(text("bytes_after")),
          peak = perToken(text("live_peak"));
  EXPECT_GT(before, 0);
  EXPECT_GT(after, 0);
  EXPECT_LT(after, before / 4);
  EXPECT_LE(peak, after);
  std::string summary =
      std::to_string(integer("buffers")) + " allocs, " + std::to_string(integer("planned")) +
      " planned, " + std::to_string(integer("reused")) + " reused, " +
      std::to_string(slots.size()) + " slots; bytes per token " + std::to_string(before) + " -> " +
      std::to_string(after) + " (live peak " + std::to_string(peak) + ")";
  ::testing::Test::RecordProperty("plan", summary);
  std::cout << "stories260K @forward: " << summary << "\n";
}

} // namespace
} // namespace tessel
