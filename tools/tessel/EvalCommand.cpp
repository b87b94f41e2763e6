//===- EvalCommand.cpp - `tessel eval` ------------------------------------===//
//
// Runs a tessel function through the reference evaluator. Inputs are made
// up deterministically from --seed so a model description can be exercised
// without weights: f32 tensors are uniform in +-sqrt(3/fan_in) (unit
// variance after a matmul), rank-1 f32 tensors (norm weights, biases) are
// near 1, integer [batch, seq] tensors count 0..seq-1 (valid positions and
// token ids), masks are all true and integer scalars are 0.
//
//===----------------------------------------------------------------------===//
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "absl/flags/flag.h"
#include "reference/Interpreter.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {
namespace {

using ref::DType;
using ref::Tensor;

Tensor makeInput(const ref::ArgumentSpec &spec, std::mt19937_64 &rng, int64_t index) {
  std::vector<int64_t> shape = spec.shape;
  for (int64_t &d : shape)
    if (d < 0)
      d = 1; // a dynamic dim gets the smallest useful extent
  if (spec.dtype == DType::F32) {
    Tensor t = Tensor::zerosF32(shape);
    if (shape.size() == 1) {
      std::uniform_real_distribution<float> near1(0.9f, 1.1f);
      for (float &v : t.f)
        v = near1(rng);
    } else {
      float bound = std::sqrt(3.0f / static_cast<float>(shape.empty() ? 1 : shape.back()));
      std::uniform_real_distribution<float> dist(-bound, bound);
      for (float &v : t.f)
        v = dist(rng);
    }
    return t;
  }
  Tensor t = Tensor::zerosI64(shape, spec.dtype);
  if (spec.dtype == DType::I1) {
    for (int64_t &v : t.i)
      v = 1;
  } else if (!shape.empty()) {
    for (int64_t i = 0; i < t.numel(); ++i)
      t.i[i] = i % shape.back();
  }
  (void)index;
  return t;
}

void printSummary(size_t index, const Tensor &t, int values) {
  std::printf("result %zu: %s\n", index, t.describe().c_str());
  if (t.dtype != DType::F32) {
    std::printf("  values:");
    for (int64_t i = 0; i < std::min<int64_t>(values, t.numel()); ++i)
      std::printf(" %lld", static_cast<long long>(t.i[i]));
    std::printf("\n");
    return;
  }
  double sum = 0, sumSq = 0, lo = INFINITY, hi = -INFINITY;
  for (float v : t.f) {
    sum += v;
    sumSq += static_cast<double>(v) * v;
    lo = std::min<double>(lo, v);
    hi = std::max<double>(hi, v);
  }
  double n = static_cast<double>(t.numel());
  double mean = sum / n;
  std::printf("  mean % .6f  std %.6f  min % .6f  max % .6f\n", mean,
              std::sqrt(std::max(0.0, sumSq / n - mean * mean)), lo, hi);
  std::printf("  values:");
  for (int64_t i = 0; i < std::min<int64_t>(values, t.numel()); ++i)
    std::printf(" % .6f", t.f[i]);
  std::printf("\n");
}

} // namespace

int runEval(const std::vector<std::string> &args) {
  if (args.size() != 1) {
    std::fprintf(stderr,
                 "tessel eval: expected one FILE.mlir, got %zu arguments (run 'tessel eval "
                 "--help')\n",
                 args.size());
    return 2;
  }
  auto program = ref::ReferenceProgram::load(args[0]);
  if (!program.ok()) {
    std::fprintf(stderr, "tessel eval: %s\n", std::string(program.status().message()).c_str());
    return 1;
  }
  std::string entry = absl::GetFlag(FLAGS_entry);
  auto specs = (*program)->arguments(entry);
  if (!specs.ok()) {
    std::fprintf(stderr, "tessel eval: %s: %s\n", args[0].c_str(),
                 std::string(specs.status().message()).c_str());
    return 1;
  }
  uint64_t seed = static_cast<uint64_t>(std::max<int64_t>(absl::GetFlag(FLAGS_seed), 0));
  std::mt19937_64 rng(seed);
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < specs->size(); ++i)
    inputs.push_back(makeInput((*specs)[i], rng, i));

  auto start = std::chrono::steady_clock::now();
  auto results = (*program)->run(inputs, entry);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!results.ok()) {
    std::fprintf(stderr, "tessel eval: %s: %s\n", args[0].c_str(),
                 std::string(results.status().message()).c_str());
    return 1;
  }
  std::printf("%s: @%s, %zu inputs (seed %llu), reference evaluator\n", args[0].c_str(),
              entry.c_str(), inputs.size(), static_cast<unsigned long long>(seed));
  for (size_t i = 0; i < results->size(); ++i)
    printSummary(i, (*results)[i], absl::GetFlag(FLAGS_values));
  std::fprintf(stderr, "evaluated in %.2f ms\n", ms);
  return 0;
}

} // namespace tessel::cli
