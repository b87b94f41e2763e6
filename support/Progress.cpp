//===- Progress.cpp - a progress bar on stderr for long operations --------===//
#include "support/Progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tessel::support {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBarWidth = 30;
// Operations that end sooner draw nothing (unless forced): a bar that
// flashes for a moment is noise.
constexpr auto kShowAfter = std::chrono::milliseconds(300);
constexpr auto kRedrawEvery = std::chrono::milliseconds(100);

// TESSEL_PROGRESS: "1" always, "0" never; unset (or anything else): on a terminal.
enum class Mode { Off, Terminal, Forced };

Mode mode() {
  static const Mode m = [] {
    const char *env = std::getenv("TESSEL_PROGRESS");
    if (env && std::strcmp(env, "1") == 0)
      return Mode::Forced;
    if (env && std::strcmp(env, "0") == 0)
      return Mode::Off;
    const char *term = std::getenv("TERM");
    if (isatty(STDERR_FILENO) && !(term && std::strcmp(term, "dumb") == 0))
      return Mode::Terminal;
    return Mode::Off;
  }();
  return m;
}

} // namespace

bool ProgressBar::enabled() { return mode() != Mode::Off; }

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 0)), enabled_(enabled()),
      forced_(mode() == Mode::Forced), start_(Clock::now()) {
  if (!enabled_)
    return;
  std::lock_guard<std::mutex> lock(mutex_);
  drawLocked(/*final=*/false);
  ticker_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!finished_) {
      stop_.wait_for(lock, kRedrawEvery);
      drawLocked(/*final=*/false);
    }
  });
}

ProgressBar::~ProgressBar() {
  if (!enabled_)
    return;
  std::unique_lock<std::mutex> lock(mutex_);
  const bool erase = !finished_ && shown_;
  stopTicker(lock);
  if (erase)
    eraseLocked();
}

void ProgressBar::stopTicker(std::unique_lock<std::mutex> &lock) {
  finished_ = true;
  if (!ticker_.joinable())
    return;
  lock.unlock();
  stop_.notify_all();
  ticker_.join();
  lock.lock();
}

void ProgressBar::setTotal(int64_t total) {
  std::lock_guard<std::mutex> lock(mutex_);
  total_ = std::max<int64_t>(total, 0);
  done_ = std::min(done_, total_);
}

void ProgressBar::advance(int64_t units) {
  if (!enabled_)
    return;
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = std::min(done_ + units, total_);
  drawLocked(/*final=*/false);
}

void ProgressBar::set(int64_t done) {
  if (!enabled_)
    return;
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = std::max(done_, std::min(done, total_));
  drawLocked(/*final=*/false);
}

void ProgressBar::finish() {
  if (!enabled_)
    return;
  std::unique_lock<std::mutex> lock(mutex_);
  if (finished_)
    return;
  stopTicker(lock);
  done_ = total_;
  drawLocked(/*final=*/true);
}

void ProgressBar::drawLocked(bool final) {
  if (!enabled_ || (finished_ && !final))
    return;
  const Clock::time_point now = Clock::now();
  if (final) {
    if (!shown_) // never drawn: nothing to complete or erase
      return;
  } else if (!forced_ && now - start_ < kShowAfter) {
    return;
  } else if (shown_ && now - lastDraw_ < kRedrawEvery) {
    return;
  }
  const double fraction = final        ? 1.0
                          : total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_)
                                       : 0.0;
  const int filled = static_cast<int>(fraction * kBarWidth);
  char frame[256];
  int n = std::snprintf(
      frame, sizeof frame, "%s [%s%s] %3d%% %.1f s", label_.c_str(),
      std::string(filled, '#').c_str(), std::string(kBarWidth - filled, '.').c_str(),
      static_cast<int>(fraction * 100), std::chrono::duration<double>(now - start_).count());
  size_t length = n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof frame - 1);
  // Pad over a longer previous frame (a label never shrinks, but be safe).
  std::string line = "\r" + std::string(frame, length);
  if (width_ > length)
    line += std::string(width_ - length, ' ');
  width_ = std::max(width_, length);
  std::fwrite(line.data(), 1, line.size(), stderr);
  shown_ = true;
  lastDraw_ = now;
  if (final) // the next line of stderr starts clean
    eraseLocked();
  std::fflush(stderr);
}

void ProgressBar::eraseLocked() {
  std::string blank = "\r" + std::string(width_, ' ') + "\r";
  std::fwrite(blank.data(), 1, blank.size(), stderr);
  std::fflush(stderr);
}

} // namespace tessel::support
