//===- Profiler.cpp -------------------------------------------------------===//
#include "runtime/Profiler.h"

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <map>

#include "nlohmann/json.hpp"

namespace tessel::runtime {

namespace {

// Ops open on this thread: (id, start). Compiled code calls begin/end in
// pairs on the thread that runs it; kernels called meanwhile belong to the
// innermost one.
thread_local std::vector<std::pair<int32_t, int64_t>> openOps;

uint32_t threadNumber() {
  static std::atomic<uint32_t> next{1};
  thread_local uint32_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

std::string opName(const Profile &p, int32_t id) {
  if (id >= 0 && static_cast<size_t>(id) < p.opNames.size())
    return p.opNames[id];
  return "op #" + std::to_string(id);
}

// "tessel.linear @ blk.0.attn_q" -> "tessel.linear".
std::string opKind(const std::string &name) { return name.substr(0, name.find(" @ ")); }

// Rows keyed by name, slowest first, with percentages of `totalMs`.
std::vector<ProfileRow> sortedRows(std::map<std::string, ProfileRow> rows, double totalMs) {
  std::vector<ProfileRow> out;
  for (auto &[name, row] : rows) {
    row.name = name;
    row.percent = totalMs > 0 ? 100.0 * row.ms / totalMs : 0;
    out.push_back(std::move(row));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const ProfileRow &a, const ProfileRow &b) { return a.ms > b.ms; });
  return out;
}

void add(ProfileRow &row, const ProfileEvent &e) {
  ++row.calls;
  row.ms += e.durationNs * 1e-6;
  row.flops += e.flops;
  row.bytes += e.bytes;
}

std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char *fmt, ...) {
  char buffer[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buffer, sizeof buffer, fmt, args);
  va_end(args);
  return buffer;
}

} // namespace

int64_t profileNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::atomic<bool> Profiler::enabled_{false};

Profiler &Profiler::global() {
  static Profiler *profiler = new Profiler(); // never destroyed: kernels may outlive main
  return *profiler;
}

void Profiler::setEnabled(bool on) {
  if (on)
    global().clear();
  enabled_.store(on, std::memory_order_relaxed);
}

void Profiler::setOpNames(std::vector<std::string> names) {
  std::lock_guard<std::mutex> lock(mutex_);
  profile_.opNames = std::move(names);
}

int32_t Profiler::phaseIndex(const std::string &name) {
  auto &names = profile_.phaseNames;
  auto it = std::find(names.begin(), names.end(), name);
  if (it != names.end())
    return static_cast<int32_t>(it - names.begin());
  names.push_back(name);
  return static_cast<int32_t>(names.size() - 1);
}

void Profiler::beginPhase(const std::string &name, int64_t tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  phase_ = phaseIndex(name);
  phaseTokens_ = tokens;
  phaseStart_ = profileNowNs();
}

void Profiler::endPhase() {
  int64_t end = profileNowNs();
  std::lock_guard<std::mutex> lock(mutex_);
  if (phase_ < 0)
    return;
  ProfileEvent e;
  e.kind = ProfileKind::Phase;
  e.id = e.phase = phase_;
  e.thread = threadNumber();
  e.startNs = phaseStart_;
  e.durationNs = end - phaseStart_;
  e.flops = static_cast<double>(phaseTokens_);
  profile_.events.push_back(e);
  phase_ = -1;
}

void Profiler::call(const std::string &function, int64_t startNs) {
  ProfileEvent e;
  e.kind = ProfileKind::Call;
  e.thread = threadNumber();
  e.startNs = startNs;
  e.durationNs = profileNowNs() - startNs;
  std::lock_guard<std::mutex> lock(mutex_);
  auto &names = profile_.callNames;
  e.id = static_cast<int32_t>(std::find(names.begin(), names.end(), function) - names.begin());
  if (static_cast<size_t>(e.id) == names.size())
    names.push_back(function);
  e.phase = phase_;
  profile_.events.push_back(e);
}

void Profiler::beginOp(int64_t id) {
  openOps.emplace_back(static_cast<int32_t>(id), profileNowNs());
}

void Profiler::endOp(int64_t id) {
  int64_t end = profileNowNs();
  // Unbalanced calls (profiling enabled between a begin and its end) are
  // dropped rather than paired with the wrong op.
  if (openOps.empty() || openOps.back().first != id) {
    openOps.clear();
    return;
  }
  ProfileEvent e;
  e.kind = ProfileKind::Op;
  e.id = openOps.back().first;
  e.startNs = openOps.back().second;
  e.durationNs = end - e.startNs;
  e.thread = threadNumber();
  openOps.pop_back();
  std::lock_guard<std::mutex> lock(mutex_);
  e.phase = phase_;
  profile_.events.push_back(e);
}

void Profiler::kernel(const char *name, int64_t startNs, double flops, double bytes) {
  ProfileEvent e;
  e.kind = ProfileKind::Kernel;
  e.kernel = name;
  e.id = openOps.empty() ? -1 : openOps.back().first;
  e.thread = threadNumber();
  e.startNs = startNs;
  e.durationNs = profileNowNs() - startNs;
  e.flops = flops;
  e.bytes = bytes;
  std::lock_guard<std::mutex> lock(mutex_);
  e.phase = phase_;
  profile_.events.push_back(e);
}

void Profiler::record(const ProfileEvent &event) {
  std::lock_guard<std::mutex> lock(mutex_);
  profile_.events.push_back(event);
}

Profile Profiler::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return profile_;
}

void Profiler::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  profile_.events.clear();
  profile_.phaseNames.clear();
  profile_.callNames.clear();
  profile_.originNs = profileNowNs();
  phase_ = -1;
  openOps.clear();
}

std::vector<PhaseReport> summarizeProfile(const Profile &p) {
  // Phase index -> report slot, in order of first appearance; events outside
  // every phase (-1) get a slot of their own.
  std::map<int32_t, size_t> slot;
  std::vector<PhaseReport> reports;
  struct Rows {
    std::map<std::string, ProfileRow> kinds, ops, kernels;
  };
  std::vector<Rows> rows;
  auto reportFor = [&](int32_t phase) -> size_t {
    auto [it, inserted] = slot.try_emplace(phase, reports.size());
    if (inserted) {
      PhaseReport r;
      r.phase = phase >= 0 && static_cast<size_t>(phase) < p.phaseNames.size() ? p.phaseNames[phase]
                                                                               : "(no phase)";
      reports.push_back(std::move(r));
      rows.emplace_back();
    }
    return it->second;
  };
  for (const ProfileEvent &e : p.events) {
    size_t i = reportFor(e.phase);
    PhaseReport &r = reports[i];
    const double ms = e.durationNs * 1e-6;
    switch (e.kind) {
    case ProfileKind::Phase:
      ++r.calls;
      r.tokens += static_cast<int64_t>(e.flops);
      r.wallMs += ms;
      break;
    case ProfileKind::Call:
      r.compiledMs += ms;
      break;
    case ProfileKind::Op: {
      std::string name = opName(p, e.id);
      add(rows[i].kinds[opKind(name)], e);
      add(rows[i].ops[name], e);
      r.profiledMs += ms;
      break;
    }
    case ProfileKind::Kernel:
      add(rows[i].kernels[e.kernel ? e.kernel : "(kernel)"], e);
      if (e.id < 0)
        r.profiledMs += ms; // not inside a profiled op
      break;
    }
  }
  for (size_t i = 0; i < reports.size(); ++i) {
    PhaseReport &r = reports[i];
    double total = r.wallMs > 0 ? r.wallMs : r.profiledMs;
    r.opKinds = sortedRows(std::move(rows[i].kinds), total);
    r.ops = sortedRows(std::move(rows[i].ops), total);
    r.kernels = sortedRows(std::move(rows[i].kernels), total);
  }
  return reports;
}

std::string formatProfile(const std::vector<PhaseReport> &phases, int topOps) {
  std::string out;
  for (const PhaseReport &r : phases) {
    out += format("profile: %s", r.phase.c_str());
    if (r.calls > 0)
      out += format(": %lld call%s, %lld token%s, wall %.3f ms", static_cast<long long>(r.calls),
                    r.calls == 1 ? "" : "s", static_cast<long long>(r.tokens),
                    r.tokens == 1 ? "" : "s", r.wallMs);
    out += "\n";
    if (!r.opKinds.empty()) {
      out += format("  %-44s %10s %6s %7s\n", "op", "ms", "%", "calls");
      for (const ProfileRow &row : r.opKinds)
        out += format("  %-44s %10.3f %6.1f %7lld\n", row.name.c_str(), row.ms, row.percent,
                      static_cast<long long>(row.calls));
      int shown = std::min<int>(topOps, static_cast<int>(r.ops.size()));
      out += format("  %-44s %10s %6s %7s\n",
                    format("slowest %d of %zu ops by location", shown, r.ops.size()).c_str(), "ms",
                    "%", "calls");
      for (int k = 0; k < shown; ++k) {
        const ProfileRow &row = r.ops[k];
        out += format("  %-44s %10.3f %6.1f %7lld\n", row.name.c_str(), row.ms, row.percent,
                      static_cast<long long>(row.calls));
      }
    }
    if (!r.kernels.empty()) {
      out +=
          format("  %-44s %10s %6s %7s %9s %9s\n", "kernel", "ms", "%", "calls", "GFLOP/s", "GB/s");
      for (const ProfileRow &row : r.kernels)
        out += format("  %-44s %10.3f %6.1f %7lld %9.2f %9.2f\n", row.name.c_str(), row.ms,
                      row.percent, static_cast<long long>(row.calls), row.gflops(),
                      row.gbytesPerSecond());
    }
    if (r.wallMs > 0) {
      out += format("  profiled %.3f ms of %.3f ms wall (%.1f %%)", r.profiledMs, r.wallMs,
                    100.0 * r.profiledMs / r.wallMs);
      // Where the rest went: compiled code between the ops (allocation,
      // reshapes, the profiling calls themselves) and the runtime around
      // the compiled call (arguments, results).
      if (r.compiledMs > 0)
        out += format("; not in %s: %.3f ms in compiled code, %.3f ms in the runtime",
                      r.opKinds.empty() ? "kernels" : "ops",
                      std::max(r.compiledMs - r.profiledMs, 0.0),
                      std::max(r.wallMs - r.compiledMs, 0.0));
      out += "\n";
    } else
      out += format("  profiled %.3f ms (no wall time measured)\n", r.profiledMs);
  }
  return out;
}

std::string chromeTrace(const Profile &p) {
  using json = nlohmann::json;
  json events = json::array();
  auto us = [&](int64_t ns) { return static_cast<double>(ns - p.originNs) * 1e-3; };
  auto phaseName = [&](int32_t phase) -> std::string {
    return phase >= 0 && static_cast<size_t>(phase) < p.phaseNames.size() ? p.phaseNames[phase]
                                                                          : "";
  };
  for (const ProfileEvent &e : p.events) {
    json j;
    j["ph"] = "X";
    j["pid"] = 1;
    j["tid"] = e.thread;
    j["ts"] = us(e.startNs);
    j["dur"] = e.durationNs * 1e-3;
    json args = json::object();
    switch (e.kind) {
    case ProfileKind::Phase:
      j["name"] = phaseName(e.id);
      j["cat"] = "phase";
      args["tokens"] = static_cast<int64_t>(e.flops);
      break;
    case ProfileKind::Call:
      j["name"] =
          "@" + (e.id >= 0 && static_cast<size_t>(e.id) < p.callNames.size() ? p.callNames[e.id]
                                                                             : std::string("?"));
      j["cat"] = "call";
      break;
    case ProfileKind::Op: {
      std::string name = opName(p, e.id);
      j["name"] = name;
      j["cat"] = "op";
      args["op"] = opKind(name);
      if (size_t at = name.find(" @ "); at != std::string::npos)
        args["location"] = name.substr(at + 3);
      break;
    }
    case ProfileKind::Kernel:
      j["name"] = e.kernel ? e.kernel : "(kernel)";
      j["cat"] = "kernel";
      args["flops"] = e.flops;
      args["bytes"] = e.bytes;
      if (e.id >= 0)
        args["op"] = opName(p, e.id);
      break;
    }
    if (e.kind != ProfileKind::Phase && e.phase >= 0)
      args["phase"] = phaseName(e.phase);
    j["args"] = std::move(args);
    events.push_back(std::move(j));
  }
  json trace;
  trace["traceEvents"] = std::move(events);
  trace["displayTimeUnit"] = "ms";
  return trace.dump();
}

} // namespace tessel::runtime
