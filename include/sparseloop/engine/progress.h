// Progress on stderr for long runs: step/total, rate (items/s), ETA and the
// latest metrics, rewritten in place on a terminal and printed every few
// seconds otherwise (logs stay readable).
#pragma once

#include <chrono>
#include <string>

namespace sparseloop {

class Progress {
 public:
  /// `total` steps (0: unknown); `unit` names what `items` counts (e.g. "img").
  Progress(std::string label, int64_t total, std::string unit = "img");
  /// Reports that step `step` is done, having processed `items` more items.
  void update(int64_t step, int64_t items, const std::string& metrics = "");
  /// Final line with totals.
  void finish(const std::string& summary = "");
  /// Items per second over the whole run so far.
  double rate() const;
  double elapsed() const;

 private:
  std::string label_, unit_;
  int64_t total_;
  int64_t items_ = 0;
  int64_t first_step_ = -1;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool tty_;
};

/// Seconds → "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace sparseloop
