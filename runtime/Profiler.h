//===- Profiler.h - time per op and per kernel ------------------*- C++ -*-===//
//
// `tessel run --profile` / `--trace FILE`. A process-wide recorder, off by
// default, of four kinds of events on the steady clock:
//   phase   one call of the runtime by a caller that names what it does
//           ("prefill", "decode"); its duration is the wall time the other
//           events are compared with;
//   call    one call of a compiled entry point (codegen::JitModule::call):
//           the part of the wall time spent in compiled code, the rest
//           being the runtime's (arguments, results);
//   op      one tessel op of the compiled model, from the calls
//           tessel-profile-ops puts around it (tessel_profile_begin/end);
//           the op's name and location come from the module's
//           `tessel.profile_ops` table (setOpNames);
//   kernel  one call of a Highway kernel through codegen/KernelAbi.cpp,
//           with its FLOPs and bytes as computed from the shapes there.
// Ops contain the kernels they lower to, so a phase's profiled time is its
// ops' time plus that of kernels called outside any op (code compiled
// without tessel-profile-ops), never ops + kernels.
//
// Recording costs one relaxed atomic load when off; when on, two clock
// reads and a push under a mutex per event. Only codegen's adapters and the
// calls compiled code makes record events; no MLIR here.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_PROFILER_H
#define TESSEL_RUNTIME_PROFILER_H

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace tessel::runtime {

/// Nanoseconds on the steady clock.
int64_t profileNowNs();

enum class ProfileKind : uint8_t { Phase, Call, Op, Kernel };

struct ProfileEvent {
  ProfileKind kind = ProfileKind::Kernel;
  /// Op: its id (index into Profile::opNames). Kernel: the op it was called
  /// in (-1: none). Phase: index into Profile::phaseNames. Call: index into
  /// Profile::callNames.
  int32_t id = -1;
  /// The phase the event ran in (index into Profile::phaseNames; -1: none).
  int32_t phase = -1;
  const char *kernel = nullptr; // Kernel: its name (a string literal)
  uint32_t thread = 0;          // small per-thread number, in order of first event
  int64_t startNs = 0, durationNs = 0;
  double flops = 0, bytes = 0; // Kernel: work done; Phase: flops holds the tokens
};

/// Everything recorded, as plain data (what the report and the trace read).
struct Profile {
  std::vector<ProfileEvent> events;
  std::vector<std::string> opNames;    // "tessel.linear @ blk.0.attn_q", by op id
  std::vector<std::string> phaseNames; // by phase index
  std::vector<std::string> callNames;  // entry points, by call id
  int64_t originNs = 0;                // the clock when profiling was enabled
};

/// One line of a report table: an op kind, an op (kind @ location) or a
/// kernel, summed over a phase.
struct ProfileRow {
  std::string name;
  int64_t calls = 0;
  double ms = 0;
  double percent = 0; // of the phase's wall time (of its profiled time without wall)
  double flops = 0, bytes = 0;
  double gflops() const { return ms > 0 ? flops / (ms * 1e6) : 0; }
  double gbytesPerSecond() const { return ms > 0 ? bytes / (ms * 1e6) : 0; }
};

struct PhaseReport {
  std::string phase; // "(no phase)" for events outside every phase
  int64_t calls = 0; // phase events
  int64_t tokens = 0;
  double wallMs = 0;               // sum of the phase events' durations
  double profiledMs = 0;           // ops + kernels called outside ops
  double compiledMs = 0;           // in compiled entry points (ops and what is between them)
  std::vector<ProfileRow> opKinds; // by op name (tessel.linear), slowest first
  std::vector<ProfileRow> ops;     // by op and location, slowest first
  std::vector<ProfileRow> kernels; // by kernel, slowest first
};

/// Sums `profile` per phase (in order of first appearance), per op kind, per
/// op and per kernel.
std::vector<PhaseReport> summarizeProfile(const Profile &profile);

/// The tables `tessel run --profile` prints: per phase, op kinds, the
/// `topOps` slowest ops by location, kernels (with GFLOP/s and GB/s) and
/// "profiled X ms of Y ms wall (Z %)".
std::string formatProfile(const std::vector<PhaseReport> &phases, int topOps = 10);

/// Chrome's trace-event format (chrome://tracing, Perfetto): a JSON object
/// whose "traceEvents" holds one complete ("X") event per recorded event,
/// ts and dur in microseconds from the start of profiling.
std::string chromeTrace(const Profile &profile);

class Profiler {
public:
  /// The one compiled code and the kernel adapters report to.
  static Profiler &global();

  /// Whether the global profiler records (checked before anything else).
  static bool enabled() { return enabled_.load(std::memory_order_relaxed); }
  /// Starts (clearing what was recorded) or stops the global profiler.
  static void setEnabled(bool on);

  /// The op table of the profiled module (its `tessel.profile_ops`): the
  /// name of op id i is names[i]. One table at a time: profile one compiled
  /// module per process.
  void setOpNames(std::vector<std::string> names);

  /// Events from now on belong to phase `name` (until endPhase), and the
  /// phase itself is an event of `tokens` tokens.
  void beginPhase(const std::string &name, int64_t tokens = 0);
  void endPhase();

  /// A call of compiled entry point `function` that started at `startNs`
  /// and ends now.
  void call(const std::string &function, int64_t startNs);

  /// tessel_profile_begin/end: op `id` starts / ends on this thread.
  void beginOp(int64_t id);
  void endOp(int64_t id);

  /// A kernel call that started at `startNs` and ends now.
  void kernel(const char *name, int64_t startNs, double flops, double bytes);

  /// Appends an event as it is (for tests).
  void record(const ProfileEvent &event);

  /// A copy of everything recorded so far.
  Profile snapshot() const;
  void clear();

private:
  static std::atomic<bool> enabled_;
  mutable std::mutex mutex_;
  Profile profile_;
  int32_t phase_ = -1;
  int64_t phaseStart_ = 0, phaseTokens_ = 0;

  int32_t phaseIndex(const std::string &name);
};

/// Times one kernel call for the global profiler (nothing when it is off):
/// construct before the kernel runs, with the work it does.
class KernelTimer {
public:
  KernelTimer(const char *name, double flops, double bytes)
      : name_(Profiler::enabled() ? name : nullptr), flops_(flops), bytes_(bytes),
        start_(name_ ? profileNowNs() : 0) {}
  ~KernelTimer() {
    if (name_)
      Profiler::global().kernel(name_, start_, flops_, bytes_);
  }
  /// Work known only once the kernel has run (MoE: the experts it read).
  void setBytes(double bytes) { bytes_ = bytes; }
  bool active() const { return name_ != nullptr; }
  KernelTimer(const KernelTimer &) = delete;
  KernelTimer &operator=(const KernelTimer &) = delete;

private:
  const char *name_;
  double flops_, bytes_;
  int64_t start_;
};

/// A phase of the global profiler for the lifetime of this object (nothing
/// when it is off).
class PhaseScope {
public:
  PhaseScope(const std::string &name, int64_t tokens) : on_(Profiler::enabled()) {
    if (on_)
      Profiler::global().beginPhase(name, tokens);
  }
  ~PhaseScope() {
    if (on_)
      Profiler::global().endPhase();
  }
  PhaseScope(const PhaseScope &) = delete;
  PhaseScope &operator=(const PhaseScope &) = delete;

private:
  bool on_;
};

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_PROFILER_H
