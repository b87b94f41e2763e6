//===- GpuEmulationTest.cpp - the CUDA backend's kernels, run on the CPU --===//
//
// CI has no GPU. Here the CUDA pipeline runs up to its `gpu` stage (kernels
// outlined, the host bufferized), tessel-gpu-kernels-to-cpu{record-launches}
// turns every kernel into a CPU function and every gpu.launch_func into a
// launch in the GPU emulator (tests/gpu/emulator: one coroutine per GPU
// thread, exact barriers, warp shuffles and tensor-core mma.sync, shared
// memory filled with NaN), and the CPU's LLVM stage finishes the job. The
// host code then runs unchanged through codegen::JitModule: grids, blocks,
// the prefill/decode choice, split-KV workspaces are the CUDA pipeline's
// own.
//
// Checked: the attention kernels (FlashAttention-2 prefill, split-KV decode
// + combine) against the reference attention, the tensor-core GEMM kernels
// of bf16 linear layers against a double-precision GEMM, stories260K's and
// a bf16 tiny-llama's @step against the reference evaluator, the mma.sync
// fragment layout on its own, and that the emulator catches a divergent
// barrier, mismatched shuffles, a divergent mma and reads of unwritten
// shared memory.
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "codegen/Jit.h"
#include "codegen/Pipeline.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelToIR.h"
#include "frontends/WeightTypes.h"
#include "reference/ModelEvaluator.h"
#include "reference/Ops.h"
#include "runtime/Weights.h"
#include "tests/gpu/emulator/GpuEmulator.h"
#include "tests/unit/TestPaths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

using ::testing::HasSubstr;

// The GPU kernels against the reference attention (f64 inside): f32
// throughout, sums over at most a few hundred keys and 128 dims.
constexpr double kAttentionTolerance = 1e-5;
// Logits of a whole model (the ModelJit suites' tolerance, absolute).
constexpr double kLogitTolerance = 1e-4;

// The CUDA pipeline to its `gpu` stage (all of its passes, the tensor-core
// GEMMs included), the kernels and launches rewritten for the emulator,
// then the CPU's lowering to LLVM (after the vector ops of the GEMM
// kernels' staging). `attentionOptions` are tessel-attention-to-gpu's.
std::vector<codegen::PipelineStage> emulatedCudaPipeline(const std::string &attentionOptions = "") {
  std::vector<codegen::PipelineStage> stages;
  for (const codegen::PipelineStage &s : codegen::gpuPipeline())
    if (s.name == "tiled" || s.name == "linalg" || s.name == "gpu")
      stages.push_back(s);
  if (!attentionOptions.empty())
    codegen::setPassOptions(stages, "tessel-attention-to-gpu",
                            "tessel-attention-to-gpu{" + attentionOptions + "}");
  stages.push_back({"emulated", "builtin.module(tessel-gpu-kernels-to-cpu{record-launches=1},"
                                "convert-vector-to-llvm)"});
  for (const codegen::PipelineStage &s : codegen::cpuPipeline())
    if (s.name == "llvm")
      stages.push_back(s);
  return stages;
}

// Only the emulator's two stages: for hand-written host code and kernels.
std::vector<codegen::PipelineStage> emulatorStages() {
  std::vector<codegen::PipelineStage> stages = emulatedCudaPipeline();
  stages.erase(stages.begin(), stages.end() - 2);
  return stages;
}

ref::Tensor randomTensor(std::vector<int64_t> shape, std::mt19937 &rng) {
  ref::Tensor t = ref::Tensor::zerosF32(std::move(shape));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float &x : t.f)
    x = normal(rng);
  return t;
}

//===----------------------------------------------------------------------===//
// Attention kernels.
//===----------------------------------------------------------------------===//

struct Shape {
  int64_t batch, qLen, kvLen;
};

struct AttentionCase {
  std::string name;
  int64_t heads, kvHeads, headDim, valueDim;
  bool causal = false;
  int64_t window = 0;
  std::optional<float> scale;
  // Dynamic batch, q_len and kv_len: one compiled function runs every
  // shape (and picks decode or prefill at run time); else one static shape.
  bool dynamic = false;
  std::vector<Shape> shapes;
  std::string options; // tessel-attention-to-gpu's
};

void PrintTo(const AttentionCase &c, std::ostream *os) { *os << c.name; }

std::string attentionModule(const AttentionCase &c) {
  auto type = [&](int64_t len, int64_t heads, int64_t dim) {
    const Shape &s = c.shapes[0];
    std::string dims = c.dynamic ? "?x?" : absl::StrCat(s.batch, "x", len);
    return absl::StrCat("tensor<", dims, "x", heads, "x", dim, "xf32>");
  };
  const Shape &s = c.shapes[0];
  std::string q = type(s.qLen, c.heads, c.headDim), k = type(s.kvLen, c.kvHeads, c.headDim),
              v = type(s.kvLen, c.kvHeads, c.valueDim), o = type(s.qLen, c.heads, c.valueDim);
  std::string attrs = absl::StrCat("num_heads = ", c.heads, " : i64, num_kv_heads = ", c.kvHeads,
                                   " : i64", c.causal ? ", causal" : "");
  if (c.window)
    absl::StrAppend(&attrs, ", window = ", c.window, " : i64");
  if (c.scale)
    absl::StrAppend(&attrs, ", scale = ", *c.scale, " : f32");
  return absl::StrCat("func.func @f(%q: ", q, ", %k: ", k, ", %v: ", v, ") -> ", o, " {\n",
                      "  %o = tessel.attention %q, %k, %v {", attrs, "} : (", q, ", ", k, ", ", v,
                      ") -> ", o, "\n  return %o : ", o, "\n}\n");
}

class GpuAttentionTest : public ::testing::TestWithParam<AttentionCase> {};

// Every shape's output equals the reference's within kAttentionTolerance,
// through the launches the host code picks: the flash-attention kernel
// (one launch) when q_len exceeds decode-max-query-len (4), else the
// split-KV kernel and its combine (two); none for an empty q.
TEST_P(GpuAttentionTest, MatchesTheReference) {
  const AttentionCase &c = GetParam();
  auto jit =
      codegen::JitModule::compile(attentionModule(c), c.name, emulatedCudaPipeline(c.options));
  ASSERT_TRUE(jit.ok()) << jit.status();
  std::mt19937 rng(7);
  double worst = 0;
  for (const Shape &s : c.shapes) {
    SCOPED_TRACE(absl::StrCat("batch ", s.batch, ", q_len ", s.qLen, ", kv_len ", s.kvLen));
    ref::Tensor q = randomTensor({s.batch, s.qLen, c.heads, c.headDim}, rng);
    ref::Tensor k = randomTensor({s.batch, s.kvLen, c.kvHeads, c.headDim}, rng);
    ref::Tensor v = randomTensor({s.batch, s.kvLen, c.kvHeads, c.valueDim}, rng);
    gpuemu::resetStats();
    auto got = (*jit)->run("f", {q, k, v});
    ASSERT_TRUE(got.ok()) << got.status();
    absl::Status emulated = gpuemu::takeLaunchError();
    ASSERT_TRUE(emulated.ok()) << emulated;
    gpuemu::Stats stats = gpuemu::stats();
    const int64_t launches = s.batch == 0 || s.qLen == 0 ? 0 : s.qLen <= 4 ? 2 : 1;
    EXPECT_EQ(stats.launches, launches);
    if (launches == 1 && s.kvLen > 0) {
      EXPECT_GT(stats.barriers, 0); // the K/V tiles went through shared memory
      EXPECT_GT(stats.shuffles, 0); // and the lanes of a row summed their dot products
    }

    ref::AttentionParams params;
    params.causal = c.causal;
    params.window = c.window;
    if (c.scale)
      params.scale = *c.scale;
    auto want = ref::attention(q, k, v, nullptr, nullptr, params);
    ASSERT_TRUE(want.ok()) << want.status();
    const ref::Tensor &out = (*got)[0];
    ASSERT_EQ(out.shape, want->shape);
    for (int64_t i = 0; i < out.numel(); ++i) {
      double err = std::abs(static_cast<double>(out.f[i]) - want->f[i]);
      ASSERT_LE(err, kAttentionTolerance)
          << "element " << i << ": " << out.f[i] << " vs " << want->f[i];
      worst = std::max(worst, err);
    }
  }
  RecordProperty("max_abs_error", absl::StrCat(worst));
  std::cout << c.name << ": max |error| " << worst << " over " << c.shapes.size() << " shapes\n";
}

std::vector<AttentionCase> attentionCases() {
  std::vector<AttentionCase> cases;
  auto add = [&](std::string name, int64_t heads, int64_t kvHeads, int64_t headDim,
                 int64_t valueDim, std::vector<Shape> shapes) -> AttentionCase & {
    AttentionCase c;
    c.name = std::move(name);
    c.heads = heads;
    c.kvHeads = kvHeads;
    c.headDim = headDim;
    c.valueDim = valueDim;
    c.shapes = std::move(shapes);
    cases.push_back(std::move(c));
    return cases.back();
  };
  // Prefill: two blocks of 64 query rows, three K/V tiles (the last
  // partial), causal.
  add("prefill_mha_causal_d64", 4, 4, 64, 64, {{1, 70, 70}}).causal = true;
  // GQA (2 query heads per K/V head), head_dim 128, batch 2, kv_len > q_len
  // (the rows sit at positions 60..99).
  add("prefill_gqa_causal_d128_batch2", 4, 2, 128, 128, {{2, 40, 100}}).causal = true;
  // MQA with v_head_dim 32 != head_dim 64, an explicit scale, not causal;
  // kv_len 0 gives zeros.
  AttentionCase &mqa =
      add("mqa_value_dim_scale", 4, 1, 64, 32, {{1, 20, 45}, {2, 1, 0}, {1, 3, 7}, {1, 70, 0}});
  mqa.scale = 0.3f;
  mqa.dynamic = true;
  // Decode (q_len 1) through 5 splits of 64 keys and the combine.
  AttentionCase &decode = add("decode_split_kv_d128", 4, 2, 128, 128, {{1, 1, 300}});
  decode.causal = true;
  decode.options = "decode-keys-per-split=64";
  // A window of 16 keys: prefill, and decode in 2 splits of 8 keys.
  AttentionCase &window =
      add("sliding_window", 2, 1, 64, 64, {{1, 80, 80}, {1, 1, 80}, {1, 3, 50}, {2, 70, 75}});
  window.causal = true;
  window.window = 16;
  window.dynamic = true;
  window.options = "decode-keys-per-split=8";
  // Dynamic batch, q_len and kv_len around the tile edges (32 keys, 64
  // rows, 4 = decode-max-query-len), kv_len 1, batch 2; decode and prefill
  // from one compiled function.
  AttentionCase &dynamic = add("dynamic_lengths_gqa", 4, 2, 64, 64,
                               {{1, 1, 1},
                                {1, 1, 5},
                                {2, 1, 33},
                                {1, 4, 4},
                                {1, 5, 31},
                                {1, 33, 33},
                                {2, 64, 65},
                                {1, 65, 97}});
  dynamic.causal = true;
  dynamic.dynamic = true;
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Kernels, GpuAttentionTest, ::testing::ValuesIn(attentionCases()),
                         [](const auto &info) { return info.param.name; });

//===----------------------------------------------------------------------===//
// Tensor-core GEMM kernels (tessel-linear-to-gpu-mma).
//===----------------------------------------------------------------------===//

// bf16 bits of `f` (finite), rounded to nearest even: what the GEMM kernels
// do to x on its way into shared memory (arith.truncf; cvt.rn.bf16.f32 on
// the GPU).
uint16_t roundToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

double bf16Value(uint16_t h) {
  uint32_t u = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct GemmCase {
  std::string name;
  int64_t n, k; // out and in features
  bool bias = false, residual = false;
  std::vector<int64_t> rows; // the M of each call
  // x is a tessel.rms_norm's input (epsilon 1e-5, gamma [K]; + 1 with
  // unitOffset), which the kernel applies in its prologue.
  bool rmsNorm = false, unitOffset = false;
};

void PrintTo(const GemmCase &c, std::ostream *os) { *os << c.name; }

// @f(x [?, K], [gamma [K]], W's bytes, [bias [N]], [residual [?, N]]) ->
// [?, N]: one tessel.linear with a bf16 weight (of x, or of rms_norm(x,
// gamma)), M dynamic (the decode layout for M <= 16, the GEMM layout
// above, picked at run time).
std::string linearModule(const GemmCase &c) {
  const std::string x = absl::StrCat("tensor<?x", c.k, "xf32>"),
                    y = absl::StrCat("tensor<?x", c.n, "xf32>"),
                    w = absl::StrCat("tensor<", c.n, "x", c.k, "xf32>"),
                    bytes = absl::StrCat("tensor<", c.n * c.k * 2, "xi8>"),
                    bias = absl::StrCat("tensor<", c.n, "xf32>"),
                    gamma = absl::StrCat("tensor<", c.k, "xf32>");
  std::string args = absl::StrCat("%x: ", x), input = "%x", norm;
  if (c.rmsNorm) {
    absl::StrAppend(&args, ", %g: ", gamma);
    input = "%h";
    norm = absl::StrCat("  %h = tessel.rms_norm %x, %g", c.unitOffset ? " {unit_offset}" : "",
                        " : (", x, ", ", gamma, ") -> ", x, "\n");
  }
  absl::StrAppend(&args, ", %bytes: ", bytes);
  std::string operands, types = x + ", " + w;
  if (c.bias) {
    absl::StrAppend(&args, ", %b: ", bias);
    absl::StrAppend(&operands, " bias(%b)");
    absl::StrAppend(&types, ", ", bias);
  }
  if (c.residual) {
    absl::StrAppend(&args, ", %r: ", y);
    absl::StrAppend(&operands, " residual(%r)");
    absl::StrAppend(&types, ", ", y);
  }
  return absl::Substitute(R"(func.func @f($0) -> $1 {
$6  %w = tessel.dequantize %bytes {format = "bf16"} : $2 -> $3
  %y = tessel.linear $7, %w$4 : ($5) -> $1
  return %y : $1
}
)",
                          args, y, bytes, w, operands, types, norm, input);
}

class GpuMmaGemmTest : public ::testing::TestWithParam<GemmCase> {};

// y = x W^T (+ bias) (+ residual) through the CUDA pipeline, the GEMM on
// the emulated tensor cores, against the same in double with x rounded to
// bf16 as the kernel rounds it (RMSNorm folded in: x * gamma, rounded in
// f32 then to bf16, the sum scaled by 1 / sqrt(mean(x^2) + eps) after).
// The products of two bf16 values are exact in f32, so the kernel's only
// errors are the roundings of its f32 sums of K + 2 terms: whatever their
// order, at most gamma(K + 1) < (K + 2) * 2^-24 times the sum of the terms'
// magnitudes (the classic bound for recursive summation). That is the
// tolerance, doubled with the norm (its scale's own f32 sum of K squares,
// sqrt and divisions: under (K / 2 + 4) * 2^-24 relative). Any misplaced
// element of a fragment, or a value rounded elsewhere, breaks it by orders
// of magnitude.
TEST_P(GpuMmaGemmTest, MatchesADoublePrecisionGemm) {
  const GemmCase &c = GetParam();
  auto jit = codegen::JitModule::compile(linearModule(c), c.name, emulatedCudaPipeline());
  ASSERT_TRUE(jit.ok()) << jit.status();
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // W [N, K] in bf16 (as stored weights are), its bytes passed as they are.
  std::vector<uint16_t> w(c.n * c.k);
  for (uint16_t &v : w)
    v = roundToBf16(0.05f * normal(rng));
  ASSERT_EQ(reinterpret_cast<uintptr_t>(w.data()) % 16, 0u); // the kernels' vector loads
  ref::Tensor bias = randomTensor({c.n}, rng);
  ref::Tensor gamma = randomTensor({c.k}, rng);
  const double tolerance = (c.rmsNorm ? 2 * (c.k + 4) : c.k + 2) * std::ldexp(1.0, -24);
  double worst = 0;
  for (int64_t rows : c.rows) {
    SCOPED_TRACE(absl::StrCat("M = ", rows));
    ref::Tensor x = randomTensor({rows, c.k}, rng);
    ref::Tensor residual = randomTensor({rows, c.n}, rng);
    std::vector<codegen::BufferRef> args = {codegen::BufferRef::of(x)};
    if (c.rmsNorm)
      args.push_back(codegen::BufferRef::of(gamma));
    args.push_back({ref::DType::I8, w.data(), {c.n * c.k * 2}});
    if (c.bias)
      args.push_back(codegen::BufferRef::of(bias));
    if (c.residual)
      args.push_back(codegen::BufferRef::of(residual));
    gpuemu::resetStats();
    auto got = (*jit)->call("f", args);
    ASSERT_TRUE(got.ok()) << got.status();
    absl::Status emulated = gpuemu::takeLaunchError();
    ASSERT_TRUE(emulated.ok()) << emulated;
    EXPECT_EQ(gpuemu::stats().launches, 1); // the norm too, when there is one
    EXPECT_GT(gpuemu::stats().mmas, 0);
    const ref::Tensor &y = (*got)[0];
    ASSERT_EQ(y.shape, (std::vector<int64_t>{rows, c.n}));
    for (int64_t m = 0; m < rows; ++m) {
      // What the kernel rounds to bf16, and the norm's scale.
      std::vector<double> a(c.k);
      double scale = 1;
      if (c.rmsNorm) {
        double squares = 0;
        for (int64_t k = 0; k < c.k; ++k)
          squares += static_cast<double>(x.f[m * c.k + k]) * x.f[m * c.k + k];
        scale = 1 / std::sqrt(squares / c.k + static_cast<double>(1e-5f));
      }
      for (int64_t k = 0; k < c.k; ++k) {
        float v = x.f[m * c.k + k];
        if (c.rmsNorm)
          v *= c.unitOffset ? gamma.f[k] + 1.0f : gamma.f[k];
        a[k] = bf16Value(roundToBf16(v));
      }
      for (int64_t n = 0; n < c.n; ++n) {
        double sum = 0, magnitude = 0;
        for (int64_t k = 0; k < c.k; ++k) {
          double term = scale * a[k] * bf16Value(w[n * c.k + k]);
          sum += term;
          magnitude += std::abs(term);
        }
        if (c.bias) {
          sum += bias.f[n];
          magnitude += std::abs(bias.f[n]);
        }
        if (c.residual) {
          sum += residual.f[m * c.n + n];
          magnitude += std::abs(residual.f[m * c.n + n]);
        }
        const double err = std::abs(y.f[m * c.n + n] - sum);
        ASSERT_LE(err, tolerance * magnitude)
            << "y[" << m << ", " << n << "] = " << y.f[m * c.n + n] << ", want " << sum;
        worst = std::max(worst, err / magnitude);
      }
    }
  }
  RecordProperty("max_relative_error", absl::StrCat(worst));
  std::cout << c.name << ": max |error| / sum |terms| " << worst << " (tolerance " << tolerance
            << ")\n";
}

// Both layouts: decode (M <= 16: 16 x 16 tiles, 4 warps splitting K) and
// the GEMM's (64 x 64 tiles, 2 x 2 warps), with a partial last row tile
// (M = 5, 130) and several row blocks (130); N = 200 and K = 48 make the
// pass fit the tiles (40 columns and one warp across, 16-column K chunks;
// 3 warps splitting K in the decode layout). Then the RMSNorm prologue
// (what a model's q, k, v and LM head use), with Gemma's unit offset.
INSTANTIATE_TEST_SUITE_P(
    Bf16, GpuMmaGemmTest,
    ::testing::Values(
        GemmCase{"n64_k64_bias_residual", 64, 64, true, true, {1, 5, 64, 130}},
        GemmCase{"n128_k256", 128, 256, false, false, {1, 5, 64, 130}},
        GemmCase{"n200_k48_bias", 200, 48, true, false, {1, 17, 130}},
        GemmCase{"rms_norm_n64_k64_residual", 64, 64, false, true, {1, 5, 130}, true},
        GemmCase{
            "rms_norm_unit_offset_n128_k256_bias", 128, 256, true, false, {1, 70}, true, true}),
    [](const auto &info) { return info.param.name; });

//===----------------------------------------------------------------------===//
// A whole model.
//===----------------------------------------------------------------------===//

// A model's @step compiled through the emulated CUDA pipeline, its weights
// bound, and zeroed KV caches of entries.cacheLength rows.
struct EmulatedStep {
  std::unique_ptr<codegen::JitModule> jit;
  runtime::BoundWeights weights;
  std::vector<ref::Tensor> caches;
};

// Fills `step` (fatal failures: call it in ASSERT_NO_FATAL_FAILURE).
void compileEmulatedStep(const frontends::LoadedModel &m, const frontends::EntryPoints &entries,
                         EmulatedStep &step) {
  auto ir = frontends::modelToMlir(m.config, m.path, /*debugInfo=*/false, entries);
  ASSERT_TRUE(ir.ok()) << ir.status();
  auto jit = codegen::JitModule::compile(*ir, m.path, emulatedCudaPipeline());
  ASSERT_TRUE(jit.ok()) << jit.status();
  step.jit = std::move(*jit);
  auto weights = runtime::bindWeights(m.weights, *step.jit, "step");
  ASSERT_TRUE(weights.ok()) << weights.status();
  step.weights = std::move(*weights);
  for (const std::vector<int64_t> &shape : frontends::kvCacheShapes(m.config, entries.cacheLength))
    step.caches.push_back(ref::Tensor::zerosF32(shape));
}

// Runs tokens [first, first + count) through `step` (the caches hold the
// ones before) and returns the logits of the last of them in `last`
// (fatal failures, as above: a failed call or an emulated launch error).
void runEmulatedStep(EmulatedStep &step, const std::vector<int32_t> &tokens, int64_t first,
                     int64_t count, int64_t vocab, std::vector<float> &last) {
  ref::TokenInputs in = ref::tokenInputs(tokens.data() + first, count, first);
  ref::Tensor fill = ref::Tensor::zerosI64({});
  fill.i[0] = first;
  std::vector<codegen::BufferRef> args = {codegen::BufferRef::of(in.ids),
                                          codegen::BufferRef::of(in.positions),
                                          codegen::BufferRef::of(fill)};
  for (ref::Tensor &cache : step.caches)
    args.push_back(codegen::BufferRef::of(cache));
  args.insert(args.end(), step.weights.args.begin(), step.weights.args.end());
  auto got = step.jit->call("step", args);
  ASSERT_TRUE(got.ok()) << got.status();
  absl::Status emulated = gpuemu::takeLaunchError();
  ASSERT_TRUE(emulated.ok()) << emulated;
  const ref::Tensor &logits = (*got)[0];
  ASSERT_GE(logits.numel(), vocab);
  last.assign(logits.f.end() - vocab, logits.f.end());
}

// stories260K's @step through the CUDA pipeline with every kernel (the
// outlined linalg kernels, the attention kernels, the KV cache writes)
// emulated: a prefill of 5 tokens (flash attention), then 3 decode steps
// (split-KV), each step's logits against the reference's full-sequence
// logits at its position, within kLogitTolerance.
TEST(GpuEmulation, Stories260KStepMatchesTheReference) {
  ASSERT_TRUE(std::filesystem::exists(testing::kStories))
      << testing::kStories << " is missing: the tests need ../shared";
  auto m = frontends::loadModel(testing::kStories.string());
  ASSERT_TRUE(m.ok()) << m.status();
  const std::vector<int32_t> tokens = {1, 403, 407, 261, 99, 5, 17, 2};
  auto reference = ref::ModelEvaluator::create(*m);
  ASSERT_TRUE(reference.ok()) << reference.status();
  auto want = (*reference)->forward(tokens);
  ASSERT_TRUE(want.ok()) << want.status();

  frontends::EntryPoints entries;
  entries.forward = false;
  entries.cacheLength = 16;
  EmulatedStep step;
  ASSERT_NO_FATAL_FAILURE(compileEmulatedStep(*m, entries, step));

  const int64_t vocab = want->shape.back();
  double worst = 0;
  gpuemu::resetStats();
  for (auto [first, count] : {std::pair<int64_t, int64_t>{0, 5}, {5, 1}, {6, 1}, {7, 1}}) {
    SCOPED_TRACE(absl::StrCat("tokens ", first, "..", first + count - 1));
    std::vector<float> logits;
    ASSERT_NO_FATAL_FAILURE(runEmulatedStep(step, tokens, first, count, vocab, logits));
    const int64_t position = first + count - 1;
    for (int64_t t = 0; t < vocab; ++t) {
      float g = logits[t], r = want->f[position * vocab + t];
      ASSERT_NEAR(g, r, kLogitTolerance) << "position " << position << ", logit " << t;
      worst = std::max(worst, std::abs(static_cast<double>(g) - r));
    }
  }
  gpuemu::Stats stats = gpuemu::stats();
  EXPECT_GT(stats.launches, 100);
  EXPECT_GT(stats.shuffles, 0);
  RecordProperty("max_abs_error", absl::StrCat(worst));
  std::cout << "stories260K @step: max |logit error| " << worst << ", " << stats.launches
            << " launches, " << stats.blocks << " blocks\n";
}

// Logits of a model whose linear layers run on the tensor cores, absolute:
// the GEMMs round their inputs to bf16, which the reference does not (see
// the test below).
constexpr double kTensorCoreLogitTolerance = 0.05;

// tiny-llama with its matrices converted to bf16 (runtime::quantizeWeights),
// its @step through the whole CUDA pipeline: the attention projections of
// both layers (q, k and v with the RMSNorm before them folded in) and the
// LM head (with the final norm) stay bf16 and run as tensor-core GEMMs
// (mma.sync, emulated), the rest as on stories260K. A prefill of 20 tokens
// (the GEMM layout: M > 16) then 4 decode steps (the decode layout), each
// step's logits against the reference's on the same bf16 weights.
//
// The reference keeps activations in f32; the GEMMs round theirs to bf16
// (8 significant bits: up to 2^-9 relative per value; x * gamma where a
// norm is folded in). That alone separates the logits: up to 0.016 here
// (logits of rms 0.97). The same model compiled for the CPU with those
// values rounded at the same points (a diagnostic, not kept) gave the
// emulated logits within 1e-6, and GpuMmaGemmTest shows each GEMM exact
// to its f32 sums. The tolerance leaves 3x margin over what bf16 costs.
//
// The same with f16 matrices (--quantize f16): the f16 kernels, without the
// norm folded in (x * gamma could leave f16's range), and f16's 11
// significant bits round less than bf16's 8.
void expectTinyLlamaStepOnTensorCoresMatchesTheReference(frontends::WeightType type,
                                                         const std::string &format) {
  auto m = frontends::loadModel((testing::kExamples / "tiny-llama.json").string());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(runtime::quantizeWeights(*m, type).ok());
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 24; ++i)
    tokens.push_back((i * 37 + 11) % 500 + 3);
  auto reference = ref::ModelEvaluator::create(*m);
  ASSERT_TRUE(reference.ok()) << reference.status();
  auto want = (*reference)->forward(tokens);
  ASSERT_TRUE(want.ok()) << want.status();

  frontends::EntryPoints entries;
  entries.forward = false;
  entries.cacheLength = 32;
  entries.storedWeights = runtime::gpuStoredWeightFormats(m->config, m->weights);
  for (const char *name : {"blk.0.attn_q.weight", "blk.1.attn_output.weight", "output.weight"})
    EXPECT_EQ(entries.storedWeights[name], format) << name;
  EmulatedStep step;
  ASSERT_NO_FATAL_FAILURE(compileEmulatedStep(*m, entries, step));

  const int64_t vocab = want->shape.back();
  double worst = 0, worstPrefill = 0;
  gpuemu::resetStats();
  for (auto [first, count] :
       {std::pair<int64_t, int64_t>{0, 20}, {20, 1}, {21, 1}, {22, 1}, {23, 1}}) {
    SCOPED_TRACE(absl::StrCat("tokens ", first, "..", first + count - 1));
    const int64_t mmasBefore = gpuemu::stats().mmas;
    std::vector<float> logits;
    ASSERT_NO_FATAL_FAILURE(runEmulatedStep(step, tokens, first, count, vocab, logits));
    EXPECT_GT(gpuemu::stats().mmas, mmasBefore); // the linear layers ran on tensor cores
    const int64_t position = first + count - 1;
    for (int64_t t = 0; t < vocab; ++t) {
      float g = logits[t], r = want->f[position * vocab + t];
      ASSERT_NEAR(g, r, kTensorCoreLogitTolerance) << "position " << position << ", logit " << t;
      double err = std::abs(static_cast<double>(g) - r);
      worst = std::max(worst, err);
      if (count > 1)
        worstPrefill = std::max(worstPrefill, err);
    }
  }
  ::testing::Test::RecordProperty("max_abs_error", absl::StrCat(worst));
  std::cout << format << " tiny-llama @step on tensor cores: max |logit error| " << worst
            << " (prefill " << worstPrefill << "), " << gpuemu::stats().mmas << " warp mmas, "
            << gpuemu::stats().launches << " launches\n";
}

TEST(GpuEmulation, TinyLlamaBf16StepOnTensorCoresMatchesTheReference) {
  expectTinyLlamaStepOnTensorCoresMatchesTheReference(frontends::WeightType::BF16, "bf16");
}

TEST(GpuEmulation, TinyLlamaF16StepOnTensorCoresMatchesTheReference) {
  expectTinyLlamaStepOnTensorCoresMatchesTheReference(frontends::WeightType::F16, "f16");
}

//===----------------------------------------------------------------------===//
// The emulator finds bugs.
//===----------------------------------------------------------------------===//

// A host function @run(%out) launching kernel @k of `kernelBody` (which
// has %out and %tid = gpu.thread_id x) on `threads` threads per block.
std::string kernelModule(const std::string &outType, int64_t blocks, int64_t threads,
                         const std::string &kernelBody, const std::string &workgroup = "") {
  return absl::Substitute(R"(
module attributes {gpu.container_module} {
  func.func @run(%out: $0) {
    %blocks = arith.constant $1 : index
    %threads = arith.constant $2 : index
    %one = arith.constant 1 : index
    gpu.launch_func @kernels::@k blocks in (%blocks, %one, %one)
        threads in (%threads, %one, %one) args(%out : $0)
    return
  }
  gpu.module @kernels {
    gpu.func @k(%out: $0) $3 kernel {
      %tid = gpu.thread_id x
$4
      gpu.return
    }
  }
}
)",
                          outType, blocks, threads,
                          workgroup.empty() ? "" : "workgroup(" + workgroup + ")", kernelBody);
}

// Runs @run of `module` on `out`; returns the emulator's verdict.
absl::Status runKernel(const std::string &module, ref::Tensor &out) {
  auto jit = codegen::JitModule::compile(module, "kernel", emulatorStages());
  if (!jit.ok())
    return jit.status();
  auto done = (*jit)->call("run", {codegen::BufferRef::of(out)});
  if (!done.ok())
    return done.status();
  return gpuemu::takeLaunchError();
}

// __syncthreads() under `if (tid < 16)`: threads 16..63 finish while 0..15
// wait at the barrier, which hangs (or worse) on a GPU.
TEST(GpuEmulator, ReportsABarrierInDivergentControlFlow) {
  ref::Tensor out = ref::Tensor::zerosF32({64});
  absl::Status st = runKernel(kernelModule("memref<64xf32>", 2, 64, R"(
      %c16 = arith.constant 16 : index
      %low = arith.cmpi ult, %tid, %c16 : index
      scf.if %low {
        gpu.barrier
      }
      %one = arith.constant 1.0 : f32
      memref.store %one, %out[%tid] : memref<64xf32>
)"),
                              out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal) << st;
  EXPECT_THAT(st.message(), HasSubstr("divergence"));
  EXPECT_THAT(st.message(), HasSubstr("16 waiting at a barrier"));
  EXPECT_THAT(st.message(), HasSubstr("48 finished"));
  EXPECT_THAT(st.message(), HasSubstr("block (0, 0, 0)")); // the first block already
}

// Lanes of one warp shuffling with different offsets (1 and 2).
TEST(GpuEmulator, ReportsMismatchedShuffles) {
  ref::Tensor out = ref::Tensor::zerosF32({32});
  absl::Status st = runKernel(kernelModule("memref<32xf32>", 1, 32, R"(
      %tid32 = arith.index_cast %tid : index to i32
      %c1 = arith.constant 1 : i32
      %c2 = arith.constant 2 : i32
      %w = arith.constant 32 : i32
      %odd = arith.andi %tid32, %c1 : i32
      %offset = arith.addi %odd, %c1 : i32
      %x = arith.sitofp %tid32 : i32 to f32
      %y, %valid = gpu.shuffle xor %x, %offset, %w : f32
      memref.store %y, %out[%tid] : memref<32xf32>
)"),
                              out);
  EXPECT_THAT(st.message(), HasSubstr("shuffle differently"));
}

// Threads 0..31 write their slot of a 64-float workgroup buffer, all 64
// read theirs after the barrier: slots nobody wrote read as NaN.
TEST(GpuEmulator, UnwrittenSharedMemoryReadsAsNaN) {
  ref::Tensor out = ref::Tensor::zerosF32({64});
  absl::Status st = runKernel(kernelModule("memref<64xf32>", 1, 64, R"(
      %c32 = arith.constant 32 : index
      %low = arith.cmpi ult, %tid, %c32 : index
      scf.if %low {
        %i = arith.index_cast %tid : index to i32
        %x = arith.sitofp %i : i32 to f32
        memref.store %x, %tile[%tid] : memref<64xf32, #gpu.address_space<workgroup>>
      }
      gpu.barrier
      %y = memref.load %tile[%tid] : memref<64xf32, #gpu.address_space<workgroup>>
      memref.store %y, %out[%tid] : memref<64xf32>
)",
                                           "%tile : memref<64xf32, #gpu.address_space<workgroup>>"),
                              out);
  ASSERT_TRUE(st.ok()) << st;
  for (int64_t i = 0; i < 64; ++i) {
    if (i < 32)
      EXPECT_EQ(out.f[i], static_cast<float>(i));
    else
      EXPECT_TRUE(std::isnan(out.f[i])) << "slot " << i << " = " << out.f[i];
  }
}

// gpu.shuffle's four modes, f32 and i32, and the valid flag: lane l of a
// warp gets l ^ 3, l + 3 (valid below 32), l - 3 (valid from 0), lane 3's
// value, and l ^ 1 as an i32; an invalid source yields the lane's own.
TEST(GpuEmulator, ShufflesLikeTheGpu) {
  struct Row {
    const char *mode, *value, *offset, *type;
  };
  const Row rows[5] = {{"xor", "%x", "%c3", "f32"},
                       {"down", "%x", "%c3", "f32"},
                       {"up", "%x", "%c3", "f32"},
                       {"idx", "%x", "%c3", "f32"},
                       {"xor", "%l", "%c1", "i32"}};
  std::string body = R"(
      %l = arith.index_cast %tid : index to i32
      %x = arith.sitofp %l : i32 to f32
      %c1 = arith.constant 1 : i32
      %c3 = arith.constant 3 : i32
      %w = arith.constant 32 : i32
      %value = arith.constant 0 : index
      %valid = arith.constant 1 : index
)";
  // Row m of `out`: [0] the value each lane got, [1] its valid flag.
  for (int m = 0; m < 5; ++m) {
    const Row &r = rows[m];
    absl::StrAppend(&body, absl::Substitute(R"(
      %s$0, %ok$0 = gpu.shuffle $1 $2, $3, %w : $4
      %v$0 = arith.$5 %s$0 : $4 to f32
      %f$0 = arith.uitofp %ok$0 : i1 to f32
      %row$0 = arith.constant $0 : index
      memref.store %v$0, %out[%row$0, %value, %tid] : memref<5x2x32xf32>
      memref.store %f$0, %out[%row$0, %valid, %tid] : memref<5x2x32xf32>
)",
                                            m, r.mode, r.value, r.offset, r.type,
                                            std::string(r.type) == "i32" ? "sitofp" : "bitcast"));
  }
  ref::Tensor out = ref::Tensor::zerosF32({5, 2, 32});
  gpuemu::resetStats();
  absl::Status st = runKernel(kernelModule("memref<5x2x32xf32>", 1, 32, body), out);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(gpuemu::stats().shuffles, 5);
  for (int l = 0; l < 32; ++l) {
    const int source[5] = {l ^ 3, l + 3, l - 3, 3, l ^ 1};
    for (int m = 0; m < 5; ++m) {
      const bool valid = source[m] >= 0 && source[m] < 32;
      EXPECT_EQ(out.f[(m * 2 + 0) * 32 + l], valid ? source[m] : l) << rows[m].mode << " " << l;
      EXPECT_EQ(out.f[(m * 2 + 1) * 32 + l], valid ? 1.0f : 0.0f) << rows[m].mode << " " << l;
    }
  }
}

//===----------------------------------------------------------------------===//
// mma.sync on its own.
//===----------------------------------------------------------------------===//

// The bits of `v` as f16, for values f16 holds exactly (normal or zero).
uint16_t exactF16(float v) {
  if (v == 0)
    return 0;
  int exponent;
  const float mantissa = std::frexp(std::abs(v), &exponent); // [0.5, 1)
  const auto bits =
      static_cast<uint16_t>(((exponent + 14) << 10) | (static_cast<int>(mantissa * 2048) & 0x3FF));
  return v < 0 ? bits | 0x8000 : bits;
}

// @run(%a [lanes, 4], %b [lanes, 2] (the lanes' A and B registers, i64
// holding 32 bits), %c [lanes, 4] f32, %d [lanes, 4] f32): one block of
// `lanes` threads; each loads its registers and runs one nvvm.mma.sync
// m16n8k16 row.col (`type` bf16: i32 registers; f16: vector<2xf16>) with
// f32 accumulators, under `if (tid < active)`, and stores its D.
std::string mmaModule(const std::string &type, int64_t lanes, int64_t active) {
  const bool f16 = type == "f16";
  std::string body;
  for (int i = 0; i < 6; ++i) {
    const char *matrix = i < 4 ? "%a" : "%b";
    const int index = i < 4 ? i : i - 4;
    absl::StrAppend(&body, absl::Substitute(R"(
        %w$0 = memref.load $1[%tid, %c$2] : memref<$3x$4xi64>
        %r$0 = arith.trunci %w$0 : i64 to i32)",
                                            i, matrix, index, lanes, i < 4 ? 4 : 2));
    if (f16)
      absl::StrAppend(&body, absl::Substitute(R"(
        %v$0 = llvm.bitcast %r$0 : i32 to vector<2xf16>)",
                                              i));
  }
  const char *reg = f16 ? "%v" : "%r";
  const std::string attrs =
      f16 ? ""
          : "multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = "
            "#nvvm.mma_type<bf16>, ";
  return absl::Substitute(R"(
module attributes {gpu.container_module} {
  func.func @run(%a: memref<$0x4xi64>, %b: memref<$0x2xi64>, %c: memref<$0x4xf32>,
                 %d: memref<$0x4xf32>) {
    %one = arith.constant 1 : index
    %lanes = arith.constant $0 : index
    gpu.launch_func @kernels::@k blocks in (%one, %one, %one) threads in (%lanes, %one, %one)
        args(%a : memref<$0x4xi64>, %b : memref<$0x2xi64>, %c : memref<$0x4xf32>,
             %d : memref<$0x4xf32>)
    return
  }
  gpu.module @kernels {
    gpu.func @k(%a: memref<$0x4xi64>, %b: memref<$0x2xi64>, %c: memref<$0x4xf32>,
                %d: memref<$0x4xf32>) kernel {
      %tid = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c3 = arith.constant 3 : index
      %active = arith.constant $1 : index
      %in = arith.cmpi ult, %tid, %active : index
      scf.if %in {$2
        %c0v = memref.load %c[%tid, %c0] : memref<$0x4xf32>
        %c1v = memref.load %c[%tid, %c1] : memref<$0x4xf32>
        %c2v = memref.load %c[%tid, %c2] : memref<$0x4xf32>
        %c3v = memref.load %c[%tid, %c3] : memref<$0x4xf32>
        %m = nvvm.mma.sync A[$30, $31, $32, $33] B[$34, $35] C[%c0v, %c1v, %c2v, %c3v]
            {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, $4shape = #nvvm.shape<m = 16, n = 8, k = 16>}
            : ($5, $5, f32) -> !llvm.struct<(f32, f32, f32, f32)>
        %d0 = llvm.extractvalue %m[0] : !llvm.struct<(f32, f32, f32, f32)>
        %d1 = llvm.extractvalue %m[1] : !llvm.struct<(f32, f32, f32, f32)>
        %d2 = llvm.extractvalue %m[2] : !llvm.struct<(f32, f32, f32, f32)>
        %d3 = llvm.extractvalue %m[3] : !llvm.struct<(f32, f32, f32, f32)>
        memref.store %d0, %d[%tid, %c0] : memref<$0x4xf32>
        memref.store %d1, %d[%tid, %c1] : memref<$0x4xf32>
        memref.store %d2, %d[%tid, %c2] : memref<$0x4xf32>
        memref.store %d3, %d[%tid, %c3] : memref<$0x4xf32>
      }
      gpu.return
    }
  }
}
)",
                          lanes, active, body, reg, attrs, f16 ? "vector<2xf16>" : "i32");
}

// One warp's D = A * B + C through the emulator, the lanes' registers
// filled and read back as the PTX ISA lays out the fragments of
// mma.m16n8k16 (written here register by register: A's registers 0..3 hold
// rows g, g + 8, g, g + 8 at columns 2t, 2t, 2t + 8, 2t + 8 (and the next
// column in the high half); B's registers 0, 1 rows 2t and 2t + 8 (and the
// next) of column g; D's values rows g, g, g + 8, g + 8 at columns 2t,
// 2t + 1, 2t, 2t + 1; g = lane / 4, t = lane % 4). Small integers: every
// product and sum is exact, so D must be exactly the matrix product.
TEST(GpuEmulator, MmaFollowsThePtxFragmentLayout) {
  float a[16][16], b[16][8], c[16][8];
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 16; ++k)
      a[r][k] = static_cast<float>((r * 16 + k) % 13 - 6);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n)
      b[k][n] = static_cast<float>((k * 5 + n * 3) % 7 - 3);
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n)
      c[r][n] = static_cast<float>(r * 8 + n - 64);
  for (const std::string type : {"bf16", "f16"}) {
    SCOPED_TRACE(type);
    auto bits = [&](float v) -> uint32_t { return type == "f16" ? exactF16(v) : roundToBf16(v); };
    auto word = [&](float lo, float hi) -> int64_t { return bits(lo) | (bits(hi) << 16); };
    ref::Tensor regA = ref::Tensor::zerosI64({32, 4}), regB = ref::Tensor::zerosI64({32, 2});
    ref::Tensor regC = ref::Tensor::zerosF32({32, 4}), regD = ref::Tensor::zerosF32({32, 4});
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane / 4, t = lane % 4;
      const int aRow[4] = {g, g + 8, g, g + 8}, aCol[4] = {2 * t, 2 * t, 2 * t + 8, 2 * t + 8};
      for (int j = 0; j < 4; ++j)
        regA.i[lane * 4 + j] = word(a[aRow[j]][aCol[j]], a[aRow[j]][aCol[j] + 1]);
      const int bRow[2] = {2 * t, 2 * t + 8};
      for (int j = 0; j < 2; ++j)
        regB.i[lane * 2 + j] = word(b[bRow[j]][g], b[bRow[j] + 1][g]);
      const int cRow[4] = {g, g, g + 8, g + 8}, cCol[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
      for (int i = 0; i < 4; ++i)
        regC.f[lane * 4 + i] = c[cRow[i]][cCol[i]];
    }
    auto jit = codegen::JitModule::compile(mmaModule(type, 32, 32), "mma", emulatorStages());
    ASSERT_TRUE(jit.ok()) << jit.status();
    gpuemu::resetStats();
    auto done = (*jit)->call("run", {codegen::BufferRef::of(regA), codegen::BufferRef::of(regB),
                                     codegen::BufferRef::of(regC), codegen::BufferRef::of(regD)});
    ASSERT_TRUE(done.ok()) << done.status();
    absl::Status st = gpuemu::takeLaunchError();
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(gpuemu::stats().mmas, 1);
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane / 4, t = lane % 4;
      for (int i = 0; i < 4; ++i) {
        const int row = g + 8 * (i / 2), col = 2 * t + i % 2;
        float want = c[row][col];
        for (int k = 0; k < 16; ++k)
          want += a[row][k] * b[k][col];
        EXPECT_EQ(regD.f[lane * 4 + i], want) << "lane " << lane << ", d" << i;
      }
    }
  }
}

// mma.sync is warp-wide: lanes 16..31 skipping it (they finish while 0..15
// wait) is divergence, as is a warp of 16 threads.
TEST(GpuEmulator, ReportsADivergentMma) {
  ref::Tensor regA = ref::Tensor::zerosI64({32, 4}), regB = ref::Tensor::zerosI64({32, 2});
  ref::Tensor regC = ref::Tensor::zerosF32({32, 4}), regD = ref::Tensor::zerosF32({32, 4});
  auto run = [&](int64_t lanes, int64_t active) {
    auto jit =
        codegen::JitModule::compile(mmaModule("bf16", lanes, active), "mma", emulatorStages());
    if (!jit.ok())
      return jit.status();
    auto done = (*jit)->call("run", {codegen::BufferRef::of(regA), codegen::BufferRef::of(regB),
                                     codegen::BufferRef::of(regC), codegen::BufferRef::of(regD)});
    if (!done.ok())
      return done.status();
    return gpuemu::takeLaunchError();
  };
  absl::Status st = run(32, 16);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal) << st;
  EXPECT_THAT(st.message(), HasSubstr("divergence"));
  EXPECT_THAT(st.message(), HasSubstr("16 waiting at an mma"));
  EXPECT_THAT(st.message(), HasSubstr("16 finished"));
  regA.shape = regC.shape = regD.shape = {16, 4};
  regB.shape = {16, 2};
  st = run(16, 16);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal) << st;
  EXPECT_THAT(st.message(), HasSubstr("an mma.sync in warp 0 of only 16 threads"));
}

// Ops the pass does not translate are errors that name them, not silent
// mistranslations.
TEST(GpuKernelsToCpu, RejectsOpsItDoesNotEmulate) {
  ref::Tensor out = ref::Tensor::zerosF32({32});
  absl::Status st = runKernel(kernelModule("memref<32xf32>", 1, 32, R"(
      %one = arith.constant 1.0 : f32
      %sum = gpu.all_reduce add %one uniform {} : (f32) -> f32
      memref.store %sum, %out[%tid] : memref<32xf32>
)"),
                              out);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("'gpu.all_reduce' is not emulated"));
}

} // namespace
} // namespace tessel
