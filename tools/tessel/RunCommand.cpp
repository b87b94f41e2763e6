//===- RunCommand.cpp - `tessel run` --------------------------------------===//
//
// Compiles the model and generates: stdout carries only the prompt's
// continuation (or, with --print_token_ids, the generated ids), streamed as
// it is produced; load/compile/prefill/decode statistics go to stderr.
// The code comes from the compile cache (compiled and saved on a miss), from
// the JIT with --no_cache, or, for `tessel run DIR`, from the package
// `tessel compile MODEL -o DIR` wrote (the weights from the model it names).
//
//===----------------------------------------------------------------------===//
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "codegen/Aot.h"
#include "frontends/tokenizer/Tokenizer.h"
#include "runtime/Profiler.h"
#include "runtime/Sampler.h"
#include "runtime/Session.h"
#include "runtime/cuda/CudaDevice.h"
#include "runtime/kernels/Kernels.h"
#include "tools/tessel/AttentionMap.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {
namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The model's tokenizer, or an error that says how to run without one.
absl::StatusOr<std::unique_ptr<frontends::Tokenizer>>
tokenizerFor(const frontends::LoadedModel &m) {
  auto tokenizer = modelTokenizer(m);
  if (!tokenizer.ok())
    return absl::Status(tokenizer.status().code(),
                        std::string(tokenizer.status().message()) +
                            " (tessel run: --prompt_ids with --print_token_ids)");
  return tokenizer;
}

} // namespace

int runRun(const std::vector<std::string> &args) {
  auto fail = [](const absl::Status &st) {
    std::fprintf(stderr, "tessel run: %s\n", std::string(st.message()).c_str());
    return 1;
  };
  std::string prompt = absl::GetFlag(FLAGS_prompt), promptIds = absl::GetFlag(FLAGS_prompt_ids);
  if (args.size() != 1 || prompt.empty() == promptIds.empty()) {
    std::fprintf(stderr, "tessel run: expected MODEL and one of --prompt TEXT or --prompt_ids IDS "
                         "(run 'tessel run --help')\n");
    return 2;
  }
  // A directory with a manifest (or what is left of a package) is compiled
  // code, not a Hugging Face model.
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir(args[0]);
  const bool aot = fs::is_directory(dir, ec) && (fs::exists(dir / codegen::kManifestFile, ec) ||
                                                 fs::exists(dir / codegen::kLibraryFile, ec));
  std::string modelPath = args[0];
  if (aot) {
    auto path = runtime::Session::aotModelPath(args[0]);
    if (!path.ok())
      return fail(path.status());
    modelPath = *path;
  }
  auto start = Clock::now();
  auto model = frontends::loadModel(modelPath);
  if (!model.ok())
    return fail(model.status());
  if (absl::Status st = quantizeFromFlags(*model); !st.ok())
    return fail(st);
  double loadSeconds = seconds(start);
  // Checked before generating, so a typo fails at once.
  std::optional<AttentionMapRequest> attentionMap;
  if (const std::string spec = absl::GetFlag(FLAGS_attention_map); !spec.empty()) {
    auto request = parseAttentionMap(spec, absl::GetFlag(FLAGS_out), model->config);
    if (!request.ok())
      return fail(request.status());
    attentionMap = *request;
  }

  std::unique_ptr<frontends::Tokenizer> tokenizer;
  std::vector<int32_t> tokens;
  bool printIds = absl::GetFlag(FLAGS_print_token_ids);
  if (!prompt.empty()) {
    auto tok = tokenizerFor(*model);
    if (!tok.ok())
      return fail(tok.status());
    tokenizer = std::move(*tok);
    auto ids = tokenizer->encode(prompt, "--prompt");
    if (!ids.ok())
      return fail(ids.status());
    if (tokenizer->bos() >= 0)
      tokens.push_back(tokenizer->bos());
    tokens.insert(tokens.end(), ids->begin(), ids->end());
  } else {
    for (absl::string_view part :
         absl::StrSplit(promptIds, absl::ByAnyChar(" ,"), absl::SkipEmpty())) {
      int32_t id;
      if (!absl::SimpleAtoi(part, &id))
        return fail(absl::InvalidArgumentError("--prompt_ids: '" + std::string(part) +
                                               "' is not a token id"));
      tokens.push_back(id);
    }
    if (!printIds) {
      auto tok = tokenizerFor(*model);
      if (!tok.ok())
        return fail(tok.status());
      tokenizer = std::move(*tok);
    }
  }
  runtime::SessionOptions sessionOptions;
  sessionOptions.context = absl::GetFlag(FLAGS_context);
  auto cpu = cpuOptionsFromFlags();
  if (!cpu.ok())
    return fail(cpu.status());
  sessionOptions.cpu = *cpu;
  if (absl::GetFlag(FLAGS_mmap))
    sessionOptions.weights = runtime::WeightPlacement::kInPlace;
  auto gpu = gpuOptionsFromFlags();
  if (!gpu.ok())
    return fail(gpu.status());
  sessionOptions.cuda = *gpu;
  if (*gpu && (absl::GetFlag(FLAGS_profile) || !absl::GetFlag(FLAGS_trace).empty() || attentionMap))
    return fail(absl::InvalidArgumentError(
        "--profile, --trace and --attention_map run on the CPU only for now: drop --device cuda"));
  // --profile / --trace: ops are timed through calls compiled into the code
  // (JIT only); a package has none, so only its kernels are.
  const bool printProfile = absl::GetFlag(FLAGS_profile);
  const std::string tracePath = absl::GetFlag(FLAGS_trace);
  const bool profiling = printProfile || !tracePath.empty();
  sessionOptions.cpu.profile = profiling && !aot;
  if (profiling && aot)
    std::fprintf(stderr,
                 "tessel run: note: %s is compiled already: --profile times its kernels "
                 "only (run the model file to time ops too)\n",
                 args[0].c_str());
  if (aot)
    sessionOptions.aotDir = args[0];
  else if (!absl::GetFlag(FLAGS_no_cache) && !profiling && !*gpu)
    sessionOptions.cacheDir = runtime::defaultCacheDir();
  auto session = runtime::Session::create(std::move(*model), sessionOptions);
  if (!session.ok())
    return fail(session.status());
  if (!(*session)->cacheNote().empty())
    std::fprintf(stderr, "tessel run: note: %s\n", (*session)->cacheNote().c_str());

  runtime::SamplerOptions so;
  so.temperature = absl::GetFlag(FLAGS_temp);
  so.topK = absl::GetFlag(FLAGS_top_k);
  so.topP = absl::GetFlag(FLAGS_top_p);
  so.seed = static_cast<uint64_t>(std::max<int64_t>(absl::GetFlag(FLAGS_seed), 0));
  runtime::Sampler sampler(so);
  int n = absl::GetFlag(FLAGS_n);
  int64_t eos = (*session)->model().config.eosToken;
  if (tokenizer && tokenizer->eos() >= 0)
    eos = tokenizer->eos();

  size_t promptLen = tokens.size();
  double prefillSeconds = 0, decodeSeconds = 0;
  int generated = 0;
  std::string pending; // bytes of a UTF-8 character split across tokens
  runtime::Session &session_ = **session;
  const int64_t context = session_.context();
  runtime::Profiler::setEnabled(profiling);
  for (int step = 0; step < n; ++step) {
    // This step puts every token so far in the cache: they must fit.
    if (static_cast<int64_t>(tokens.size()) > context) {
      std::fprintf(stderr,
                   "tessel run: stopped at the context length (%lld tokens; raise it with "
                   "--context)\n",
                   static_cast<long long>(context));
      break;
    }
    if (step == 1)
      tessel_moe_reset_bytes_read(); // count the decode steps' expert reads only
    auto t0 = Clock::now();
    // Prefill the prompt, then feed back one sampled token per step.
    absl::StatusOr<std::vector<float>> logits;
    {
      // The wall time the profile is measured against: the model call alone.
      runtime::PhaseScope phase(step == 0 ? "prefill" : "decode",
                                step == 0 ? static_cast<int64_t>(tokens.size()) : 1);
      logits = step == 0 ? session_.append(tokens) : session_.append({tokens.back()});
    }
    if (!logits.ok())
      return fail(logits.status());
    int32_t next = sampler.sample(logits->data(), static_cast<int64_t>(logits->size()));
    (step == 0 ? prefillSeconds : decodeSeconds) += seconds(t0);
    if (next == eos)
      break;
    int32_t prev = tokens.back();
    tokens.push_back(next);
    ++generated;
    if (printIds) {
      std::printf(generated == 1 ? "%d" : " %d", next);
    } else {
      pending += tokenizer->piece(next, prev);
      // Emit whole UTF-8 characters only.
      size_t complete = pending.size();
      for (size_t back = 1; back <= std::min<size_t>(3, pending.size()); ++back) {
        unsigned char c = pending[pending.size() - back];
        if ((c & 0xC0) == 0x80)
          continue; // continuation byte
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need > back)
          complete = pending.size() - back;
        break;
      }
      std::fwrite(pending.data(), 1, complete, stdout);
      pending.erase(0, complete);
    }
    std::fflush(stdout);
  }
  if (!pending.empty())
    std::fwrite(pending.data(), 1, pending.size(), stdout);
  std::printf("\n");
  std::fflush(stdout);
  std::fprintf(
      stderr,
      "load %.2f s, compile %.2f s (%s); prefill %zu tokens: %.1f tok/s; decode %d tokens: "
      "%.1f tok/s; KV cache %lld bytes (%lld rows x %lld bytes)\n",
      loadSeconds + (*session)->weightSeconds(), (*session)->compileSeconds(),
      (*session)->codeOrigin().c_str(), promptLen,
      prefillSeconds > 0 ? promptLen / prefillSeconds : 0.0, std::max(generated - 1, 0),
      decodeSeconds > 0 ? (generated - 1) / decodeSeconds : 0.0,
      static_cast<long long>(session_.kvCacheBytes()),
      static_cast<long long>(session_.kvCacheRows()),
      static_cast<long long>(
          session_.kvCacheRows() > 0 ? session_.kvCacheBytes() / session_.kvCacheRows() : 0));
  if (*gpu) {
    // What crossed the bus: the weights once, then ids in and logits out.
    runtime::cuda::DeviceStats device = runtime::cuda::stats();
    std::fprintf(stderr,
                 "cuda: %llu kernel launches, %llu modules loaded; %.1f MB to the device, "
                 "%.1f MB back\n",
                 static_cast<unsigned long long>(device.kernelLaunches),
                 static_cast<unsigned long long>(device.moduleLoads),
                 static_cast<double>(device.bytesToDevice) / 1e6,
                 static_cast<double>(device.bytesToHost) / 1e6);
  }
  const frontends::ModelConfig &mc = session_.model().config;
  if (mc.numExperts > 0 && generated > 1) {
    // What decode reads of the routed experts, against all of them: MoE's
    // point is that a token touches only its top-k.
    int64_t perToken = tessel_moe_bytes_read() / (generated - 1), all = 0;
    for (const auto &[name, w] : session_.model().weights.all())
      if (name.find("_exps.") != std::string::npos)
        all += w.numel() * static_cast<int64_t>(sizeof(float));
    std::fprintf(stderr,
                 "MoE decode read %lld bytes of expert weights per token (router, %lld of %lld "
                 "routed experts per layer, shared experts); all routed experts: %lld bytes\n",
                 static_cast<long long>(perToken), static_cast<long long>(mc.expertsPerToken),
                 static_cast<long long>(mc.numExperts), static_cast<long long>(all));
  }
  if (profiling) {
    runtime::Profiler::setEnabled(false);
    runtime::Profile profile = runtime::Profiler::global().snapshot();
    if (printProfile)
      std::fputs(runtime::formatProfile(runtime::summarizeProfile(profile)).c_str(), stderr);
    if (!tracePath.empty()) {
      std::ofstream out(tracePath, std::ios::binary | std::ios::trunc);
      out << runtime::chromeTrace(profile);
      out.close();
      if (!out)
        return fail(absl::UnavailableError("--trace: cannot write " + tracePath));
      std::fprintf(stderr, "tessel run: wrote the trace to %s (%zu events)\n", tracePath.c_str(),
                   profile.events.size());
    }
  }
  if (mc.isMla() && session_.hasKvCache())
    std::fprintf(
        stderr,
        "MLA caches kv_lora_rank + qk_rope_dim = %lld floats per token per layer; per-head "
        "keys and values would take %lld bytes per row\n",
        static_cast<long long>(mc.kvLoraRank + mc.qkRopeDim),
        static_cast<long long>(mc.numLayers * mc.numHeads *
                               (mc.qkNopeDim + mc.qkRopeDim + mc.vHeadDim) * 4));
  if (attentionMap) {
    auto written = writeAttentionMap(*attentionMap, modelPath, tokens, tokenizer.get());
    if (!written.ok())
      return fail(written.status());
    std::fprintf(stderr, "tessel run: %s\n", written->c_str());
  }
  return 0;
}

} // namespace tessel::cli
