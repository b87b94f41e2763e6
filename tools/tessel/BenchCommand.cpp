//===- BenchCommand.cpp - `tessel bench` ----------------------------------===//
//
// Prefill and decode speed of the compiled model, as llama-bench reports
// them (pp N: one prefill of N tokens; tg N: N decode steps of one token
// after it), each the median of --reps runs, beside what this machine
// allows: the bench measures its own read bandwidth and FMA peak
// (tessel_measure_read_gbps / _fma_gflops) and gives each result as a
// fraction of its roofline:
//   decode  tok/s <= bandwidth / bytes read per token (the active weights in
//           the model file's types, plus the KV cache at the mean context);
//   prefill tok/s <= FMA peak / FLOPs per token (2 x active parameters plus
//           the causal attention scores and sums at that prompt length).
// With --compile it compiles into an empty compile cache (cold) and loads
// from it (cached). `tessel bench --gemm M,N,K` (no MODEL) times the f32
// GEMM kernel alone on one thread and on all, against the FMA peak.
// Peers (llama.cpp, PyTorch) run from bench/run_bench.py.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "frontends/ModelLoader.h"
#include "frontends/WeightTypes.h"
#include "nlohmann/json.hpp"
#include "runtime/ModelCost.h"
#include "runtime/Session.h"
#include "runtime/kernels/Kernels.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {
namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()      ? 0
         : v.size() % 2 ? v[v.size() / 2]
                        : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int fail(const absl::Status &st) {
  std::fprintf(stderr, "tessel bench: %s\n", std::string(st.message()).c_str());
  return 1;
}

// GFLOP/s of tessel_gemm_f32 on [m, k] x [n, k]^T with the global pool at
// `threads`: the best of `reps` timed calls after one warm-up call.
double gemmGflops(int64_t m, int64_t n, int64_t k, int64_t threads, int64_t reps) {
  tessel_set_num_threads(threads);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> a(m * k), w(n * k), c(m * n);
  for (float &v : a)
    v = u(rng);
  for (float &v : w)
    v = u(rng);
  double best = 0;
  for (int64_t r = 0; r <= reps; ++r) {
    auto t0 = Clock::now();
    tessel_gemm_f32(m, n, k, a.data(), k, w.data(), k, nullptr, c.data(), n);
    double s = seconds(t0);
    if (r > 0)
      best = std::max(best, 2.0 * m * n * k / s / 1e9);
  }
  return best;
}

// `tessel bench --gemm M,N,K`: the GEMM targets are a fraction of
// one core's measured peak and the speed-up on all threads.
int benchGemm(const std::string &shape, int64_t threads, int64_t reps) {
  std::vector<int64_t> mnk;
  for (absl::string_view part : absl::StrSplit(shape, ',')) {
    int64_t v;
    if (!absl::SimpleAtoi(part, &v) || v <= 0)
      return fail(absl::InvalidArgumentError("--gemm: expected M,N,K (positive), got '" + shape +
                                             "' (run 'tessel bench --help')"));
    mnk.push_back(v);
  }
  if (mnk.size() != 3)
    return fail(absl::InvalidArgumentError("--gemm: expected M,N,K, got '" + shape + "'"));
  const int64_t all = threads > 0 ? threads : tessel_get_num_threads();
  const double one = gemmGflops(mnk[0], mnk[1], mnk[2], 1, reps);
  const double many = gemmGflops(mnk[0], mnk[1], mnk[2], all, reps);
  const double peakOne = tessel_measure_fma_gflops(1, 3);
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json j = {{"gemm", mnk},
                        {"threads", all},
                        {"gflop_s_1_thread", one},
                        {"gflop_s_all_threads", many},
                        {"fma_gflop_s_1_thread", peakOne},
                        {"fraction_of_1_thread_peak", one / peakOne},
                        {"speedup", many / one}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("gemm %lld x %lld x %lld (f32, best of %lld): %.1f GFLOP/s on 1 thread (%.1f %% of "
              "the measured %.1f GFLOP/s peak), %.1f GFLOP/s on %lld threads (%.2fx)\n",
              static_cast<long long>(mnk[0]), static_cast<long long>(mnk[1]),
              static_cast<long long>(mnk[2]), static_cast<long long>(reps), one,
              100 * one / peakOne, peakOne, many, static_cast<long long>(all), many / one);
  return 0;
}

} // namespace

int runBench(const std::vector<std::string> &args) {
  const int64_t promptTokens = absl::GetFlag(FLAGS_p), genTokens = absl::GetFlag(FLAGS_n);
  const int64_t threads = absl::GetFlag(FLAGS_t), reps = absl::GetFlag(FLAGS_reps);
  if (const std::string gemm = absl::GetFlag(FLAGS_gemm);
      !gemm.empty() && args.empty() && reps >= 1 && threads >= 0)
    return benchGemm(gemm, threads, reps);
  if (args.size() != 1 || !absl::GetFlag(FLAGS_gemm).empty() || promptTokens < 1 || genTokens < 0 ||
      reps < 1 || threads < 0) {
    std::fprintf(stderr, "tessel bench: expected MODEL (or --gemm M,N,K alone), -p >= 1, -n >= 0, "
                         "--reps >= 1, -t >= 0 (run 'tessel bench --help')\n");
    return 2;
  }
  if (threads > 0)
    tessel_set_num_threads(threads);
  const int64_t usedThreads = tessel_get_num_threads();

  auto model = frontends::loadModel(args[0]);
  if (!model.ok())
    return fail(model.status());
  if (absl::Status st = quantizeFromFlags(*model); !st.ok())
    return fail(st);
  const runtime::ModelCost cost = runtime::estimateCost(*model);
  const frontends::ModelConfig config = model->config;
  const std::string path = model->path;

  runtime::SessionOptions options;
  options.context = promptTokens + genTokens + 1;
  auto cpu = cpuOptionsFromFlags();
  if (!cpu.ok())
    return fail(cpu.status());
  options.cpu = *cpu;
  if (absl::GetFlag(FLAGS_mmap))
    options.weights = runtime::WeightPlacement::kInPlace;

  // --compile: cold into an empty cache, then the same model from it.
  double coldCompile = 0, cachedCompile = -1;
  const bool measureCompile = absl::GetFlag(FLAGS_compile);
  std::filesystem::path cacheDir;
  if (measureCompile) {
    cacheDir = std::filesystem::temp_directory_path() /
               absl::StrFormat("tessel-bench-%d-%d", getpid(), std::random_device{}());
    options.cacheDir = cacheDir.string();
  }
  auto session = runtime::Session::create(std::move(*model), options);
  if (!session.ok())
    return fail(session.status());
  coldCompile = (*session)->compileSeconds();
  if (measureCompile) {
    auto again = frontends::loadModel(path);
    if (!again.ok())
      return fail(again.status());
    if (absl::Status st = quantizeFromFlags(*again); !st.ok())
      return fail(st);
    // Only its code is timed: its weights stay in the mapped file, so the
    // run does not hold two copies of a large model.
    runtime::SessionOptions cachedOptions = options;
    cachedOptions.weights = runtime::WeightPlacement::kInPlace;
    auto cached = runtime::Session::create(std::move(*again), cachedOptions);
    if (!cached.ok())
      return fail(cached.status());
    cachedCompile = (*cached)->compileSeconds();
    std::error_code ec;
    std::filesystem::remove_all(cacheDir, ec);
  }

  // A fixed random prompt (token 0..vocab), then greedy decode.
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(config.vocabSize - 1));
  std::vector<int32_t> prompt(promptTokens);
  for (int32_t &t : prompt)
    t = token(rng);
  std::vector<double> prefillRates, decodeRates;
  runtime::Session &s = **session;
  for (int64_t r = 0; r <= reps; ++r) { // run 0 warms caches and pages up
    s.reset();
    auto t0 = Clock::now();
    auto logits = s.append(prompt);
    if (!logits.ok())
      return fail(logits.status());
    double prefill = seconds(t0);
    t0 = Clock::now();
    for (int64_t i = 0; i < genTokens; ++i) {
      int32_t next =
          static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
      logits = s.append({next});
      if (!logits.ok())
        return fail(logits.status());
    }
    double decode = seconds(t0);
    if (r == 0)
      continue;
    prefillRates.push_back(promptTokens / prefill);
    if (genTokens > 0)
      decodeRates.push_back(genTokens / decode);
  }
  const double prefillRate = median(prefillRates), decodeRate = median(decodeRates);

  // The machine, measured now: a 256 MiB read (beyond any cache) and FMA
  // chains on one thread and on all.
  const double readGbps = tessel_measure_read_gbps(256ll << 20, 3);
  const double peakOne = tessel_measure_fma_gflops(1, 3);
  const double peakAll = usedThreads > 1 ? tessel_measure_fma_gflops(usedThreads, 3) : peakOne;

  const double meanContext = promptTokens + genTokens / 2.0;
  const double decodeBytes = cost.activeWeightBytes + cost.kvBytesPerToken * meanContext;
  const double decodeRoof = readGbps * 1e9 / decodeBytes;
  const double prefillFlopsPerToken =
      runtime::prefillFlops(cost, config, promptTokens) / promptTokens;
  const double prefillRoof = peakAll * 1e9 / prefillFlopsPerToken;

  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json j = {
        {"model", path},
        {"threads", usedThreads},
        {"prompt_tokens", promptTokens},
        {"generated_tokens", genTokens},
        {"reps", reps},
        {"prefill_tok_s", prefillRate},
        {"decode_tok_s", decodeRate},
        {"prefill_tok_s_runs", prefillRates},
        {"decode_tok_s_runs", decodeRates},
        {"weight_types", cost.weightTypes},
        {"active_weight_bytes_per_token", cost.activeWeightBytes},
        {"kv_bytes_per_token", cost.kvBytesPerToken},
        {"prefill_flops_per_token", prefillFlopsPerToken},
        {"machine",
         {{"read_gb_s", readGbps},
          {"fma_gflop_s_1_thread", peakOne},
          {"fma_gflop_s_all_threads", peakAll}}},
        {"roofline",
         {{"decode_tok_s", decodeRoof},
          {"decode_fraction", decodeRate / decodeRoof},
          {"prefill_tok_s", prefillRoof},
          {"prefill_fraction", prefillRate / prefillRoof}}},
        {"compile",
         {{"code", s.codeOrigin()}, {"cold_s", coldCompile}, {"weights_s", s.weightSeconds()}}}};
    if (cachedCompile >= 0)
      j["compile"]["cached_s"] = cachedCompile;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("tessel bench %s: %lld threads, weights %s (%.1f MB read per decoded token)\n",
              path.c_str(), static_cast<long long>(usedThreads), cost.weightTypes.c_str(),
              decodeBytes / 1e6);
  std::printf("machine: read %.1f GB/s (%lld threads); f32 FMA peak %.1f GFLOP/s (1 thread), "
              "%.1f GFLOP/s (%lld threads)\n",
              readGbps, static_cast<long long>(usedThreads), peakOne, peakAll,
              static_cast<long long>(usedThreads));
  std::printf("pp%-6lld %10.1f tok/s   roofline %10.1f tok/s   %5.1f %%   (median of %lld)\n",
              static_cast<long long>(promptTokens), prefillRate, prefillRoof,
              100 * prefillRate / prefillRoof, static_cast<long long>(reps));
  if (genTokens > 0)
    std::printf("tg%-6lld %10.1f tok/s   roofline %10.1f tok/s   %5.1f %%   (median of %lld)\n",
                static_cast<long long>(genTokens), decodeRate, decodeRoof,
                100 * decodeRate / decodeRoof, static_cast<long long>(reps));
  if (cachedCompile >= 0)
    std::printf("compile: cold %.3f s, cached %.3f s; weights placed in %.3f s\n", coldCompile,
                cachedCompile, s.weightSeconds());
  else
    std::printf("compile: %.3f s (%s); weights placed in %.3f s\n", coldCompile,
                s.codeOrigin().c_str(), s.weightSeconds());
  return 0;
}

} // namespace tessel::cli
