//===- ProfilerTest.cpp - runtime::Profiler and `--profile` ---------------===//
//
// The profiler's arithmetic on hand-made events (sums, nesting, percentages,
// GFLOP/s, the report and the Chrome trace), its recording API, and real
// models compiled with tessel-profile-ops: every op and kernel call of the
// run is recorded, the ops' time accounts for the wall time of the model
// calls (within 10%: a consistency check, not a speed threshold), and the
// trace holds the prefill and decode calls (a random-weight llama big enough
// for the wall-time check, and the real stories260K).
//
//===----------------------------------------------------------------------===//
#include "runtime/Profiler.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "codegen/Emit.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelToIR.h"
#include "nlohmann/json.hpp"
#include "runtime/Session.h"
#include "tests/unit/ScratchDirTest.h"
#include "gtest/gtest.h"
#include "tests/unit/TestPaths.h"

namespace tessel::runtime {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using testing::kStories;

constexpr int64_t kMs = 1000000; // ns

ProfileEvent event(ProfileKind kind, int32_t id, int32_t phase, int64_t startMs, double ms) {
  ProfileEvent e;
  e.kind = kind;
  e.id = id;
  e.phase = phase;
  e.startNs = startMs * kMs;
  e.durationNs = static_cast<int64_t>(ms * kMs);
  return e;
}

ProfileEvent kernelEvent(const char *name, int32_t op, int32_t phase, int64_t startMs, double ms,
                         double flops, double bytes) {
  ProfileEvent e = event(ProfileKind::Kernel, op, phase, startMs, ms);
  e.kernel = name;
  e.flops = flops;
  e.bytes = bytes;
  return e;
}

// prefill: one 10 ms call of 4 tokens, 9.5 ms of it in compiled code,
// holding two linear layers (4 + 3 ms, each around a GEMM), a norm (1 ms)
// and a 0.5 ms kernel outside any op; decode: two 2 ms calls of one op each.
Profile sample() {
  Profile p;
  p.opNames = {"tessel.linear @ blk.0.attn_q", "tessel.rms_norm @ blk.0.attn_norm",
               "tessel.linear @ output"};
  p.phaseNames = {"prefill", "decode"};
  p.callNames = {"step"};
  ProfileEvent prefill = event(ProfileKind::Phase, 0, 0, 0, 10);
  prefill.flops = 4; // tokens
  auto decode = [](int64_t startMs) {
    ProfileEvent e = event(ProfileKind::Phase, 1, 1, startMs, 2);
    e.flops = 1;
    return e;
  };
  p.events = {
      event(ProfileKind::Op, 1, 0, 0, 1),
      kernelEvent("tessel_linear_f32", 0, 0, 1, 3.5, 7e9, 3.5e9),
      event(ProfileKind::Op, 0, 0, 1, 4),
      kernelEvent("tessel_linear_f32", 2, 0, 5, 2.5, 3e9, 0.5e9),
      event(ProfileKind::Op, 2, 0, 5, 3),
      kernelEvent("tessel_attention_f32", -1, 0, 8, 0.5, 1e6, 2e6),
      prefill,
      event(ProfileKind::Op, 2, 1, 20, 1.5),
      decode(20),
      event(ProfileKind::Op, 2, 1, 30, 1.5),
      decode(30),
      event(ProfileKind::Call, 0, 0, 0, 9.5), // prefill's compiled code
  };
  return p;
}

TEST(ProfilerTest, SummarySumsOpsAndKernelsOutsideOps) {
  std::vector<PhaseReport> phases = summarizeProfile(sample());
  ASSERT_EQ(phases.size(), 2u);
  const PhaseReport &prefill = phases[0];
  EXPECT_EQ(prefill.phase, "prefill");
  EXPECT_EQ(prefill.calls, 1);
  EXPECT_EQ(prefill.tokens, 4);
  EXPECT_DOUBLE_EQ(prefill.wallMs, 10);
  // Ops (4 + 1 + 3) and the kernel outside them (0.5); the GEMMs inside the
  // linear layers are not counted twice.
  EXPECT_DOUBLE_EQ(prefill.profiledMs, 8.5);
  EXPECT_DOUBLE_EQ(prefill.compiledMs, 9.5);

  ASSERT_EQ(prefill.opKinds.size(), 2u);
  EXPECT_EQ(prefill.opKinds[0].name, "tessel.linear");
  EXPECT_EQ(prefill.opKinds[0].calls, 2);
  EXPECT_DOUBLE_EQ(prefill.opKinds[0].ms, 7);
  EXPECT_DOUBLE_EQ(prefill.opKinds[0].percent, 70);
  EXPECT_EQ(prefill.opKinds[1].name, "tessel.rms_norm");

  ASSERT_EQ(prefill.ops.size(), 3u);
  EXPECT_EQ(prefill.ops[0].name, "tessel.linear @ blk.0.attn_q");
  EXPECT_EQ(prefill.ops[1].name, "tessel.linear @ output");
  EXPECT_EQ(prefill.ops[2].name, "tessel.rms_norm @ blk.0.attn_norm");

  ASSERT_EQ(prefill.kernels.size(), 2u);
  const ProfileRow &gemm = prefill.kernels[0];
  EXPECT_EQ(gemm.name, "tessel_linear_f32");
  EXPECT_EQ(gemm.calls, 2);
  EXPECT_DOUBLE_EQ(gemm.ms, 6);
  EXPECT_DOUBLE_EQ(gemm.percent, 60);
  EXPECT_DOUBLE_EQ(gemm.gflops(), 1e10 / 6e-3 / 1e9);
  EXPECT_DOUBLE_EQ(gemm.gbytesPerSecond(), 4e9 / 6e-3 / 1e9);

  const PhaseReport &decode = phases[1];
  EXPECT_EQ(decode.phase, "decode");
  EXPECT_EQ(decode.calls, 2);
  EXPECT_DOUBLE_EQ(decode.wallMs, 4);
  EXPECT_DOUBLE_EQ(decode.profiledMs, 3);
  ASSERT_EQ(decode.ops.size(), 1u);
  EXPECT_EQ(decode.ops[0].calls, 2);
  EXPECT_DOUBLE_EQ(decode.ops[0].percent, 75);
}

TEST(ProfilerTest, EventsOutsidePhasesAndUnknownOps) {
  Profile p;
  p.events = {event(ProfileKind::Op, 7, -1, 0, 2)};
  std::vector<PhaseReport> phases = summarizeProfile(p);
  ASSERT_EQ(phases.size(), 1u);
  EXPECT_EQ(phases[0].phase, "(no phase)");
  ASSERT_EQ(phases[0].ops.size(), 1u);
  EXPECT_EQ(phases[0].ops[0].name, "op #7");
  // No wall time: percentages are of the profiled time.
  EXPECT_DOUBLE_EQ(phases[0].ops[0].percent, 100);
  EXPECT_NE(formatProfile(phases).find("no wall time measured"), std::string::npos);
}

TEST(ProfilerTest, ReportHasTablesAndTotals) {
  std::string report = formatProfile(summarizeProfile(sample()), /*topOps=*/2);
  EXPECT_NE(report.find("profile: prefill: 1 call, 4 tokens, wall 10.000 ms"), std::string::npos)
      << report;
  EXPECT_NE(report.find("profile: decode: 2 calls, 2 tokens, wall 4.000 ms"), std::string::npos);
  EXPECT_NE(report.find("slowest 2 of 3 ops by location"), std::string::npos);
  EXPECT_EQ(report.find("tessel.rms_norm @ blk.0.attn_norm"), std::string::npos)
      << "only the 2 slowest ops are listed by location";
  EXPECT_TRUE(std::regex_search(
      report, std::regex(R"(tessel_linear_f32 +6\.000 +60\.0 +2 +1666\.67 +666\.67)")))
      << report;
  EXPECT_NE(report.find("profiled 8.500 ms of 10.000 ms wall (85.0 %); not in ops: 1.000 ms in "
                        "compiled code, 0.500 ms in the runtime\n"),
            std::string::npos);
  EXPECT_NE(report.find("profiled 3.000 ms of 4.000 ms wall (75.0 %)\n"), std::string::npos);
}

TEST(ProfilerTest, ChromeTraceHasCompleteEvents) {
  Profile p = sample();
  json trace = json::parse(chromeTrace(p));
  const json &events = trace.at("traceEvents");
  ASSERT_EQ(events.size(), p.events.size());
  int phases = 0;
  for (const json &e : events) {
    EXPECT_EQ(e.at("ph"), "X");
    EXPECT_TRUE(e.at("ts").is_number());
    EXPECT_TRUE(e.at("dur").is_number());
    if (e.at("cat") == "phase")
      ++phases;
  }
  EXPECT_EQ(phases, 3);
  EXPECT_EQ(events.back().at("name"), "@step");
  EXPECT_EQ(events.back().at("cat"), "call");
  // Microseconds from the origin; ops carry their kind and location,
  // kernels their work and op.
  EXPECT_EQ(events[2].at("name"), "tessel.linear @ blk.0.attn_q");
  EXPECT_DOUBLE_EQ(events[2].at("ts").get<double>(), 1000);
  EXPECT_DOUBLE_EQ(events[2].at("dur").get<double>(), 4000);
  EXPECT_EQ(events[2].at("args").at("location"), "blk.0.attn_q");
  EXPECT_EQ(events[2].at("args").at("phase"), "prefill");
  EXPECT_EQ(events[1].at("cat"), "kernel");
  EXPECT_DOUBLE_EQ(events[1].at("args").at("flops").get<double>(), 7e9);
  EXPECT_EQ(events[1].at("args").at("op"), "tessel.linear @ blk.0.attn_q");
  EXPECT_EQ(events[6].at("name"), "prefill");
  EXPECT_EQ(events[6].at("args").at("tokens"), 4);
}

TEST(ProfilerTest, RecordsOnlyWhenEnabled) {
  Profiler &profiler = Profiler::global();
  Profiler::setEnabled(false);
  profiler.clear();
  { KernelTimer t("off", 1, 1); }
  EXPECT_TRUE(profiler.snapshot().events.empty());

  Profiler::setEnabled(true);
  profiler.setOpNames({"tessel.linear @ x"});
  {
    PhaseScope phase("prefill", 3);
    profiler.beginOp(0);
    { KernelTimer t("tessel_linear_f32", 10, 20); }
    profiler.endOp(0);
    { KernelTimer t("loose", 1, 2); }
  }
  Profiler::setEnabled(false);
  Profile p = profiler.snapshot();
  ASSERT_EQ(p.events.size(), 4u);
  EXPECT_EQ(p.events[0].kind, ProfileKind::Kernel);
  EXPECT_EQ(p.events[0].id, 0) << "the kernel ran inside op 0";
  EXPECT_EQ(p.events[0].phase, 0);
  EXPECT_DOUBLE_EQ(p.events[0].flops, 10);
  EXPECT_EQ(p.events[1].kind, ProfileKind::Op);
  EXPECT_LE(p.events[1].startNs, p.events[0].startNs);
  EXPECT_EQ(p.events[2].id, -1);
  EXPECT_EQ(p.events[3].kind, ProfileKind::Phase);
  EXPECT_DOUBLE_EQ(p.events[3].flops, 3);
  std::vector<PhaseReport> phases = summarizeProfile(p);
  ASSERT_EQ(phases.size(), 1u);
  EXPECT_LE(phases[0].profiledMs, phases[0].wallMs);
}

// Call sites of kernels (not of the profiling hooks) in `text`.
int64_t kernelCallSites(const std::string &text) {
  std::regex call(R"(call @(tessel_\w+))");
  int64_t n = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), call); it != std::sregex_iterator();
       ++it)
    n += (*it)[1].str().rfind("tessel_profile_", 0) != 0;
  return n;
}

void checkRun(Session &s, const std::vector<int32_t> &prompt, int decode, int64_t kernelsPerCall,
              bool failUncovered, bool &covered);

// Runs `model` with profiling on (prefill `prompt`, then `decode` greedy
// tokens, each call a phase as `tessel run --profile` has them) and checks
// that (a) every op and kernel call was recorded, (b) when `coverage`, the
// ops account for at least 90% of each phase's wall time, (c) the trace has
// one phase event per call and every op inside one. checkRun checks one run.
void checkProfiledRun(frontends::LoadedModel model, const std::vector<int32_t> &prompt, int decode,
                      bool coverage) {
  constexpr int64_t kContext = 256;
  SessionOptions options;
  options.context = kContext;
  options.cpu.profile = true;

  // The kernels one call of @step makes: its kernel call sites (it has no
  // loops around them).
  frontends::EntryPoints stepOnly;
  stepOnly.forward = false;
  stepOnly.cacheLength = kContext;
  auto ir = frontends::modelToMlir(model.config, model.path, /*debugInfo=*/false, stepOnly);
  ASSERT_TRUE(ir.ok()) << ir.status();
  auto kernelStage = codegen::emitStage(*ir, model.path, "kernel", options.cpu);
  ASSERT_TRUE(kernelStage.ok()) << kernelStage.status();
  const int64_t kernelsPerCall = kernelCallSites(*kernelStage);
  ASSERT_GT(kernelsPerCall, 5);

  auto session = Session::create(std::move(model), options);
  ASSERT_TRUE(session.ok()) << session.status();
  // A run is checked whole; on a shared machine a preemption between two
  // ops counts as time outside them, so a run short of the coverage bound
  // is repeated (at most 3 runs) before the bound fails.
  for (int attempt = 0;; ++attempt) {
    bool covered = true;
    const bool last = !coverage || attempt == 2;
    checkRun(**session, prompt, decode, kernelsPerCall, coverage && last, covered);
    if (::testing::Test::HasFatalFailure() || covered || last)
      return;
  }
}

void checkRun(Session &s, const std::vector<int32_t> &prompt, int decode, int64_t kernelsPerCall,
              bool failUncovered, bool &covered) {
  s.reset();
  Profiler::setEnabled(true);
  absl::StatusOr<std::vector<float>> logits;
  {
    PhaseScope phase("prefill", static_cast<int64_t>(prompt.size()));
    logits = s.append(prompt);
  }
  for (int i = 0; i < decode && logits.ok(); ++i) {
    int32_t next =
        static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
    PhaseScope phase("decode", 1);
    logits = s.append({next});
  }
  Profiler::setEnabled(false);
  ASSERT_TRUE(logits.ok()) << logits.status();
  Profile p = Profiler::global().snapshot();

  // (a) Every op and kernel call of every model call is there, with its
  // work; kernels run inside ops; ops are named by layer.
  const int64_t calls = 1 + decode;
  ASSERT_FALSE(p.opNames.empty());
  EXPECT_NE(std::find(p.opNames.begin(), p.opNames.end(), "tessel.linear @ blk.0.attn_q"),
            p.opNames.end());
  int64_t ops = 0, kernels = 0;
  for (const ProfileEvent &e : p.events) {
    if (e.kind == ProfileKind::Op)
      ++ops;
    if (e.kind == ProfileKind::Kernel) {
      ++kernels;
      EXPECT_GE(e.id, 0) << e.kernel << " ran outside every op";
      EXPECT_GT(e.flops, 0) << e.kernel;
      EXPECT_GT(e.bytes, 0) << e.kernel;
    }
  }
  EXPECT_EQ(ops, calls * static_cast<int64_t>(p.opNames.size()));
  EXPECT_EQ(kernels, calls * kernelsPerCall);

  // (b) The ops account for the wall time of the model calls.
  std::vector<PhaseReport> phases = summarizeProfile(p);
  ASSERT_EQ(phases.size(), 2u);
  for (const PhaseReport &r : phases) {
    SCOPED_TRACE(r.phase);
    EXPECT_EQ(r.calls, r.phase == "prefill" ? 1 : decode);
    EXPECT_GT(r.wallMs, 0);
    EXPECT_LE(r.profiledMs, r.compiledMs);
    EXPECT_LE(r.compiledMs, r.wallMs);
    covered &= r.profiledMs >= 0.9 * r.wallMs;
    if (failUncovered)
      EXPECT_GE(r.profiledMs, 0.9 * r.wallMs) << formatProfile(phases);
  }

  // (c) The trace: one phase event per call, with time and duration, every
  // op inside a phase event.
  json trace = json::parse(chromeTrace(p));
  std::vector<std::pair<double, double>> spans;
  int prefills = 0, decodes = 0;
  for (const json &e : trace.at("traceEvents"))
    if (e.at("cat") == "phase") {
      prefills += e.at("name") == "prefill";
      decodes += e.at("name") == "decode";
      spans.emplace_back(e.at("ts").get<double>(),
                         e.at("ts").get<double>() + e.at("dur").get<double>());
      EXPECT_GT(e.at("dur").get<double>(), 0);
    }
  EXPECT_EQ(prefills, 1);
  EXPECT_EQ(decodes, decode);
  for (const json &e : trace.at("traceEvents")) {
    if (e.at("cat") != "op")
      continue;
    double ts = e.at("ts").get<double>(), end = ts + e.at("dur").get<double>();
    EXPECT_TRUE(std::any_of(spans.begin(), spans.end(), [&](auto s) {
      return s.first <= ts && end <= s.second + 1e-3;
    })) << e.at("name");
  }
}

class ProfilerModelTest : public ScratchDirTest {};

// A llama of 4 layers of 256 (random weights, about 4M parameters): a decode
// step takes about a millisecond, so the runtime's fixed cost per call
// (arguments and results, ~10 us) does not hide the ops' share.
TEST_F(ProfilerModelTest, LlamaEveryCallRecordedAndOpsCoverTheWallTime) {
  std::string description = writeBytes("llama.json", R"({
    "model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4,
    "num_attention_heads": 8, "num_key_value_heads": 4, "intermediate_size": 688,
    "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "vocab_size": 2048, "weights": {"random": {"seed": 7}}})");
  auto model = frontends::loadModel(description);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<int32_t> prompt;
  for (int i = 0; i < 32; ++i)
    prompt.push_back(1 + (i * 37) % 2000);
  checkProfiledRun(std::move(*model), prompt, /*decode=*/24, /*coverage=*/true);
}

// The real stories260K: every call recorded, the trace complete. Its decode
// steps are so short (~80 us) that the runtime's fixed cost per call is
// ~10% of them, so coverage is checked on the model above.
TEST_F(ProfilerModelTest, Stories260KEveryCallRecorded) {
  ASSERT_TRUE(fs::exists(kStories)) << kStories << " is missing: the tests need ../shared";
  auto model = frontends::loadModel(kStories.string());
  ASSERT_TRUE(model.ok()) << model.status();
  // "Once upon a time".
  checkProfiledRun(std::move(*model), {1, 403, 407, 261, 378}, /*decode=*/32,
                   /*coverage=*/false);
}

} // namespace
} // namespace tessel::runtime
