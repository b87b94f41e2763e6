//===- Progress.h - a progress bar on stderr for long operations -*- C++ -*-===//
//
// Loading a large model's weights or compiling it takes seconds to minutes;
// a bar on stderr says the tool is working and how far it is:
//
//   compiling [############..................] 40% 1.2 s
//
// It is drawn only when stderr is a terminal (TERM not "dumb") and only once
// the operation has run for 0.3 s, so fast operations and logs stay clean.
// TESSEL_PROGRESS=1 draws it always, from the start (tests check it);
// TESSEL_PROGRESS=0 never. Redraws are throttled to 10 per second; a thread
// redraws as often while a step with no progress of its own runs (LLVM's
// code generation), so the bar appears and its clock moves. When the
// operation ends (finish()) the bar draws 100% and erases its line ('\r',
// spaces, '\r'), so whatever is printed next starts on a clean line; one
// destroyed unfinished (an error) erases its line without drawing 100%.
//
// Thread-safe: advance() may be called from any thread.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_SUPPORT_PROGRESS_H
#define TESSEL_SUPPORT_PROGRESS_H

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace tessel::support {

class ProgressBar {
public:
  /// `total` units of work (bytes, passes, ...); 0 until setTotal is fine.
  ProgressBar(std::string label, int64_t total);
  /// Erases the bar without completing it (an operation that failed).
  ~ProgressBar();
  ProgressBar(const ProgressBar &) = delete;
  ProgressBar &operator=(const ProgressBar &) = delete;

  void setTotal(int64_t total);
  /// `units` more done; never past the total.
  void advance(int64_t units = 1);
  /// Done so far, absolute (never moves the bar backwards).
  void set(int64_t done);
  /// Draws 100% (if the bar is showing) and erases the line. Idempotent.
  void finish();

  /// Whether bars are drawn at all in this process: TESSEL_PROGRESS, else
  /// whether stderr is a terminal.
  static bool enabled();

private:
  void drawLocked(bool final);
  void eraseLocked();
  /// Stops the redrawing thread; returns with mutex_ held by `lock`.
  void stopTicker(std::unique_lock<std::mutex> &lock);

  std::mutex mutex_;
  std::condition_variable stop_;
  std::thread ticker_; // redraws while the operation runs, if drawing at all
  std::string label_;
  int64_t total_ = 0, done_ = 0;
  bool enabled_ = false, forced_ = false, shown_ = false, finished_ = false;
  size_t width_ = 0; // characters of the last frame, to erase it
  std::chrono::steady_clock::time_point start_, lastDraw_;
};

} // namespace tessel::support

#endif // TESSEL_SUPPORT_PROGRESS_H
