//===- EvalCommand.cpp - `tessel eval` ------------------------------------===//
//
// Runs a tessel function through the reference evaluator or, with
// --compiled (or --device cuda), through the compiled pipeline of --device:
// the CPU pipeline's JIT, or the CUDA pipeline's host code launching PTX
// kernels. --compare runs both on the same inputs and checks the compiled
// results against the reference's; --reps times the compiled function.
//
// Inputs are made up deterministically from --seed so a model description
// can be exercised without weights: f32 tensors are uniform in
// +-sqrt(3/fan_in) (unit variance after a matmul), rank-1 f32 tensors (norm
// weights, biases) are near 1, integer [batch, seq] tensors count 0..seq-1
// (valid positions and token ids), masks are all true and integer scalars
// are 0. --inputs DIR reads them from DIR/argN.npy instead, and --outputs
// DIR writes the results as DIR/resultN.npy (and the inputs as argN.npy),
// so a script can check them against another implementation
// (bench/gpu/torch_parity.py).
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/Jit.h"
#include "nlohmann/json.hpp"
#include "reference/Interpreter.h"
#include "runtime/Profiler.h"
#include "runtime/cuda/CudaDevice.h"
#include "support/Npy.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {
namespace {

namespace fs = std::filesystem;
using ref::DType;
using ref::Tensor;
using support::NpyArray;
using support::NpyType;
using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

Tensor makeInput(const ref::ArgumentSpec &spec, std::mt19937_64 &rng) {
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
  return t;
}

// --- .npy inputs and outputs -------------------------------------------------

NpyType npyTypeOf(DType dtype) {
  return dtype == DType::F32 ? NpyType::F32 : dtype == DType::I1 ? NpyType::Bool : NpyType::I64;
}

/// "f32[2, ?, 32]", or "i64 scalar".
std::string describeSpec(const ref::ArgumentSpec &spec) {
  if (spec.isScalar)
    return ref::dtypeName(spec.dtype) + " scalar";
  std::vector<std::string> dims;
  for (int64_t d : spec.shape)
    dims.push_back(d < 0 ? "?" : std::to_string(d));
  return ref::dtypeName(spec.dtype) + "[" + absl::StrJoin(dims, ", ") + "]";
}

/// A shape as numpy prints it: (2, 3), (5,), ().
std::string numpyShape(const std::vector<int64_t> &shape) {
  return shape.size() == 1 ? absl::StrCat("(", shape[0], ",)")
                           : absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

/// DIR/argN.npy as argument `index` of `entry`: its type and shape must be
/// the argument's (any extent for a dynamic dim).
absl::StatusOr<Tensor> readInput(const std::string &path, const ref::ArgumentSpec &spec,
                                 size_t index, const std::string &entry) {
  auto array = support::readNpy(path);
  if (!array.ok())
    return array.status();
  const std::string argument =
      absl::StrCat("argument ", index, " of @", entry, ", ", describeSpec(spec));
  const NpyType want = npyTypeOf(spec.dtype);
  if (array->type != want)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": field 'descr': ", support::npyTypeName(array->type), " does not match ", argument,
        " (save it as ", support::npyTypeName(want), ")"));
  bool fits = spec.isScalar ? array->shape.empty() : array->shape.size() == spec.shape.size();
  for (size_t d = 0; fits && !spec.isScalar && d < spec.shape.size(); ++d)
    fits = spec.shape[d] < 0 || spec.shape[d] == array->shape[d];
  if (!fits)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": field 'shape': ", numpyShape(array->shape), " does not match ", argument));
  if (want == NpyType::F32) {
    Tensor t = Tensor::zerosF32(array->shape);
    t.f = std::move(array->f32);
    return t;
  }
  Tensor t = Tensor::zerosI64(array->shape, spec.dtype);
  t.i = std::move(array->i64);
  return t;
}

NpyArray toNpy(const Tensor &t) {
  NpyArray a;
  a.type = npyTypeOf(t.dtype);
  a.shape = t.shape;
  if (t.dtype == DType::F32)
    a.f32 = t.f;
  else
    a.i64 = t.i;
  return a;
}

// --- the compiled function, called on buffers that stay put ------------------

/// The inputs as compiled code takes them: i1 as one byte per element and,
/// for CUDA code, tensors uploaded to the device once (so timed calls do
/// not copy them; integer scalars are passed by value).
class CompiledInputs {
public:
  ~CompiledInputs() {
    for (void *p : device_)
      runtime::cuda::deviceFree(p);
  }

  absl::Status prepare(const codegen::JitModule &module, const std::string &entry,
                       std::vector<Tensor> &inputs) {
    auto sig = module.signatures().find(entry);
    if (sig == module.signatures().end())
      return absl::NotFoundError("no function @" + entry + " in the compiled module");
    if (!sig->second.weights.empty())
      return absl::InvalidArgumentError(absl::StrCat("@", entry, " reads weights (",
                                                     absl::StrJoin(sig->second.weights, ", "),
                                                     "); eval passes arguments only"));
    bytes_.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      codegen::BufferRef r = codegen::BufferRef::of(inputs[i]);
      size_t size = static_cast<size_t>(inputs[i].numel()) * 4;
      if (inputs[i].dtype == DType::I1) {
        bytes_[i].assign(inputs[i].i.begin(), inputs[i].i.end());
        r.data = bytes_[i].data();
        size = bytes_[i].size();
      } else if (inputs[i].dtype != DType::F32) {
        size = static_cast<size_t>(inputs[i].numel()) * 8;
      }
      const bool scalar = i < sig->second.args.size() && sig->second.args[i].rank < 0;
      if (module.onDevice() && !scalar) {
        auto buffer = runtime::cuda::deviceAlloc(size);
        if (!buffer.ok())
          return buffer.status();
        if (*buffer)
          device_.push_back(*buffer);
        if (absl::Status st = runtime::cuda::copyToDevice(*buffer, r.data, size); !st.ok())
          return st;
        r.data = *buffer;
        r.onDevice = true;
      }
      refs_.push_back(std::move(r));
    }
    return absl::OkStatus();
  }

  const std::vector<codegen::BufferRef> &refs() const { return refs_; }

private:
  std::vector<std::vector<uint8_t>> bytes_;
  std::vector<void *> device_;
  std::vector<codegen::BufferRef> refs_;
};

// --- what is printed -----------------------------------------------------------

struct Summary {
  double mean = 0, std = 0, lo = 0, hi = 0;
};

Summary summarize(const Tensor &t) {
  double sum = 0, sumSq = 0, lo = INFINITY, hi = -INFINITY;
  for (float v : t.f) {
    sum += v;
    sumSq += static_cast<double>(v) * v;
    lo = std::min<double>(lo, v);
    hi = std::max<double>(hi, v);
  }
  double n = static_cast<double>(t.numel());
  double mean = sum / n;
  return {mean, std::sqrt(std::max(0.0, sumSq / n - mean * mean)), lo, hi};
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
  Summary s = summarize(t);
  std::printf("  mean % .6f  std %.6f  min % .6f  max % .6f\n", s.mean, s.std, s.lo, s.hi);
  std::printf("  values:");
  for (int64_t i = 0; i < std::min<int64_t>(values, t.numel()); ++i)
    std::printf(" % .6f", t.f[i]);
  std::printf("\n");
}

nlohmann::json resultJson(const Tensor &t, int values) {
  nlohmann::json j = {
      {"type", t.describe()}, {"dtype", ref::dtypeName(t.dtype)}, {"shape", t.shape}};
  nlohmann::json first = nlohmann::json::array();
  for (int64_t i = 0; i < std::min<int64_t>(values, t.numel()); ++i) {
    if (t.dtype == DType::F32)
      first.push_back(t.f[i]);
    else
      first.push_back(t.i[i]);
  }
  if (t.dtype == DType::F32 && t.numel() > 0) {
    Summary s = summarize(t);
    j["mean"] = s.mean;
    j["std"] = s.std;
    j["min"] = s.lo;
    j["max"] = s.hi;
  }
  j["values"] = first;
  return j;
}

/// The largest |compiled - reference| over every element of every result
/// (NaN or infinity where one side is NaN, or where the results differ in
/// number, type or shape, which `problem` then says).
struct Comparison {
  double maxDiff = 0;
  std::string problem;
};

Comparison compareResults(const std::vector<Tensor> &got, const std::vector<Tensor> &want) {
  Comparison c;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (got.size() != want.size()) {
    c.maxDiff = kInf;
    c.problem = absl::StrCat("compiled code returned ", got.size(), " results, the reference ",
                             want.size());
    return c;
  }
  for (size_t r = 0; r < got.size(); ++r) {
    const Tensor &a = got[r], &b = want[r];
    if (a.dtype != b.dtype || a.shape != b.shape) {
      c.maxDiff = kInf;
      c.problem = absl::StrCat("result ", r, " is ", a.describe(), " compiled but ", b.describe(),
                               " in the reference");
      return c;
    }
    for (int64_t i = 0; i < a.numel(); ++i) {
      double x = a.dtype == DType::F32 ? a.f[i] : static_cast<double>(a.i[i]);
      double y = b.dtype == DType::F32 ? b.f[i] : static_cast<double>(b.i[i]);
      double d = x == y || (std::isnan(x) && std::isnan(y)) ? 0.0
                 : std::isnan(x) || std::isnan(y)           ? kInf
                                                            : std::fabs(x - y);
      c.maxDiff = std::max(c.maxDiff, d);
    }
  }
  return c;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

nlohmann::json timingJson(const std::vector<double> &ms) {
  double sum = 0;
  for (double m : ms)
    sum += m;
  return {{"ms", ms},
          {"median_ms", median(ms)},
          {"min_ms", ms.empty() ? 0 : *std::min_element(ms.begin(), ms.end())},
          {"mean_ms", ms.empty() ? 0 : sum / static_cast<double>(ms.size())}};
}

int fail(const std::string &file, const absl::Status &st) {
  std::fprintf(stderr, "tessel eval: %s%s%s\n", file.c_str(), file.empty() ? "" : ": ",
               std::string(st.message()).c_str());
  return 1;
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
  const std::string &file = args[0];
  auto gpu = gpuOptionsFromFlags();
  if (!gpu.ok())
    return fail("", gpu.status());
  auto cpuOptions = cpuOptionsFromFlags();
  if (!cpuOptions.ok())
    return fail("", cpuOptions.status());
  // There is no reference evaluator on the GPU: --device cuda is compiled.
  const bool cuda = gpu->has_value();
  const bool compiled = absl::GetFlag(FLAGS_compiled) || cuda;
  const bool compare = absl::GetFlag(FLAGS_compare);
  const bool json = absl::GetFlag(FLAGS_json);
  const double tolerance = absl::GetFlag(FLAGS_tolerance);
  const int64_t reps = absl::GetFlag(FLAGS_reps);
  const int values = absl::GetFlag(FLAGS_values);
  const std::string inputDir = absl::GetFlag(FLAGS_inputs);
  const std::string outputDir = absl::GetFlag(FLAGS_outputs);
  if (compare && !compiled) {
    std::fprintf(stderr,
                 "tessel eval: --compare checks compiled code against the reference "
                 "evaluator: add --compiled (or --device cuda) (run 'tessel eval --help')\n");
    return 2;
  }
  if (!(tolerance >= 0) || reps < 0) {
    std::fprintf(stderr, "tessel eval: %s (run 'tessel eval --help')\n",
                 reps < 0 ? "--reps must be 0 or more" : "--tolerance must be 0 or more");
    return 2;
  }

  auto program = ref::ReferenceProgram::load(file);
  if (!program.ok())
    return fail("", program.status());
  std::string entry = absl::GetFlag(FLAGS_entry);
  auto specs = (*program)->arguments(entry);
  if (!specs.ok())
    return fail(file, specs.status());

  // The inputs: generated from --seed, or read from --inputs DIR.
  uint64_t seed = static_cast<uint64_t>(std::max<int64_t>(absl::GetFlag(FLAGS_seed), 0));
  std::vector<Tensor> inputs;
  if (inputDir.empty()) {
    std::mt19937_64 rng(seed);
    for (const ref::ArgumentSpec &spec : *specs)
      inputs.push_back(makeInput(spec, rng));
  } else {
    for (size_t i = 0; i < specs->size(); ++i) {
      auto input = readInput((fs::path(inputDir) / absl::StrCat("arg", i, ".npy")).string(),
                             (*specs)[i], i, entry);
      if (!input.ok())
        return fail("", input.status());
      inputs.push_back(std::move(*input));
    }
  }

  // The function's results: from the reference, or from compiled code.
  std::string how = "reference evaluator";
  std::vector<Tensor> results, reference;
  std::vector<double> callMs, inCodeMs;
  double compileSeconds = 0, firstMs = 0, referenceMs = 0;
  std::unique_ptr<codegen::JitModule> module;
  CompiledInputs compiledInputs;
  if (compiled) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto start = Clock::now();
    auto jit =
        cuda ? codegen::JitModule::compileCuda(text.str(), file, **gpu)
             : codegen::JitModule::compile(text.str(), file, codegen::cpuPipeline(*cpuOptions));
    if (!jit.ok())
      return fail("", jit.status());
    module = std::move(*jit);
    compileSeconds = msSince(start) / 1000;
    if (cuda) {
      auto device = runtime::cuda::deviceDescription();
      how = "compiled for CUDA (" + (device.ok() ? *device : (**gpu).chip) + ")";
    } else {
      how = "compiled for the CPU";
    }
    if (absl::Status st = compiledInputs.prepare(*module, entry, inputs); !st.ok())
      return fail(file, st);
    // The first call (its results are printed) warms up; --reps more are timed.
    start = Clock::now();
    auto first = module->call(entry, compiledInputs.refs());
    firstMs = msSince(start);
    if (!first.ok())
      return fail(file, first.status());
    results = std::move(*first);
    // CUDA: the profiler's call events time the compiled code and the device
    // sync alone, without copying the results back.
    if (cuda && reps > 0)
      runtime::Profiler::setEnabled(true);
    for (int64_t r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      auto again = module->call(entry, compiledInputs.refs());
      callMs.push_back(msSince(t0));
      if (!again.ok())
        return fail(file, again.status());
    }
    if (cuda && reps > 0) {
      for (const runtime::ProfileEvent &e : runtime::Profiler::global().snapshot().events)
        if (e.kind == runtime::ProfileKind::Call)
          inCodeMs.push_back(static_cast<double>(e.durationNs) / 1e6);
      runtime::Profiler::setEnabled(false);
    }
  }
  if (!compiled || compare) {
    auto start = Clock::now();
    auto ran = (*program)->run(inputs, entry);
    referenceMs = msSince(start);
    if (!ran.ok())
      return fail(file, ran.status());
    (compiled ? reference : results) = std::move(*ran);
  }
  Comparison comparison;
  if (compare)
    comparison = compareResults(results, reference);
  const bool compareOk =
      !compare || (comparison.problem.empty() && comparison.maxDiff <= tolerance);

  if (!outputDir.empty()) {
    std::error_code ec;
    fs::create_directories(outputDir, ec);
    if (ec)
      return fail(outputDir,
                  absl::PermissionDeniedError("cannot create the directory: " + ec.message()));
    auto write = [&](const char *name, const std::vector<Tensor> &tensors) {
      for (size_t i = 0; i < tensors.size(); ++i)
        if (absl::Status st = support::writeNpy(
                (fs::path(outputDir) / absl::StrCat(name, i, ".npy")).string(), toNpy(tensors[i]));
            !st.ok())
          return st;
      return absl::OkStatus();
    };
    if (absl::Status st = write("result", results); !st.ok())
      return fail("", st);
    // (Not over the files --inputs read them from.)
    std::error_code same;
    if (inputDir.empty() || !fs::equivalent(inputDir, outputDir, same))
      if (absl::Status st = write("arg", inputs); !st.ok())
        return fail("", st);
  }

  const std::string inputsFrom =
      inputDir.empty() ? absl::StrCat("seed ", seed) : absl::StrCat("from ", inputDir);
  if (json) {
    nlohmann::json out = {{"file", file},
                          {"entry", entry},
                          {"device", cuda ? "cuda" : "cpu"},
                          {"mode", compiled ? "compiled" : "reference"},
                          {"how", how},
                          {"inputs", inputsFrom},
                          {"num_inputs", inputs.size()}};
    nlohmann::json list = nlohmann::json::array();
    for (const Tensor &t : results)
      list.push_back(resultJson(t, values));
    out["results"] = list;
    if (compiled) {
      out["compile_s"] = compileSeconds;
      out["first_call_ms"] = firstMs;
    }
    if (compare) {
      out["compare"] = {
          {"max_abs_diff", comparison.maxDiff}, {"tolerance", tolerance}, {"ok", compareOk}};
      if (!comparison.problem.empty())
        out["compare"]["problem"] = comparison.problem;
    }
    if (!compiled || compare)
      out["reference_ms"] = referenceMs;
    if (compiled && reps > 0) {
      nlohmann::json timing = timingJson(callMs);
      timing["reps"] = reps;
      timing["warmup"] = 1;
      if (cuda) {
        timing["in_compiled_code"] = timingJson(inCodeMs);
        timing["note"] = "ms: the whole call (launches, device sync, results copied to the host); "
                         "in_compiled_code: launches and device sync only";
      }
      out["timing"] = timing;
    }
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%s: @%s, %zu inputs (%s), %s\n", file.c_str(), entry.c_str(), inputs.size(),
                inputsFrom.c_str(), how.c_str());
    for (size_t i = 0; i < results.size(); ++i)
      printSummary(i, results[i], values);
    if (compare) {
      if (!comparison.problem.empty())
        std::printf("%s\n", comparison.problem.c_str());
      std::printf("max |compiled - reference| = %.3g (tolerance %.3g): %s\n", comparison.maxDiff,
                  tolerance, compareOk ? "ok" : "FAIL");
    }
    if (compiled && reps > 0) {
      auto line = [](const char *what, const std::vector<double> &ms) {
        nlohmann::json t = timingJson(ms);
        std::printf("%s: median %.4f ms, min %.4f ms, mean %.4f ms\n", what,
                    t["median_ms"].get<double>(), t["min_ms"].get<double>(),
                    t["mean_ms"].get<double>());
      };
      std::printf("timed %lld calls after 1 warm-up call\n", static_cast<long long>(reps));
      line("  per call", callMs);
      if (cuda)
        line("  in compiled code (launches + device sync, no copies)", inCodeMs);
    }
  }
  if (compiled)
    std::fprintf(stderr, "compiled in %.2f s; first call %.2f ms\n", compileSeconds, firstMs);
  if (compare)
    std::fprintf(stderr, "reference evaluated in %.2f ms\n", referenceMs);
  else if (!compiled)
    std::fprintf(stderr, "evaluated in %.2f ms\n", referenceMs);
  return compareOk ? 0 : 1;
}

} // namespace tessel::cli
