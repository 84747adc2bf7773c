#include "sparseloop/engine/progress.h"

#include "sparseloop/util/distributed.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace sparseloop {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  const long t = static_cast<long>(std::lround(s));
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_ - std::chrono::hours(1)),
      tty_(::isatty(2)) {}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::rate() const {
  const double e = elapsed();
  return e > 0 ? items_ / e : 0.0;
}

void Progress::update(int64_t step, int64_t items, const std::string& metrics) {
  if (first_step_ < 0) first_step_ = step - 1;
  items_ += items;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  const bool last = total_ > 0 && step >= total_;
  if (since < (tty_ ? 0.25 : 10.0) && !last) return;
  last_print_ = now;
  const double e = elapsed();
  const double steps_done = static_cast<double>(step - first_step_);
  char buf[256];
  std::string line;
  if (total_ > 0) {
    const double eta = steps_done > 0 ? e / steps_done * static_cast<double>(total_ - step) : NAN;
    std::snprintf(buf, sizeof buf, "%s %lld/%lld (%3.0f%%) | %.0f %s/s | %s elapsed, ETA %s",
                  label_.c_str(), static_cast<long long>(step), static_cast<long long>(total_),
                  100.0 * step / total_, rate(), unit_.c_str(), format_duration(e).c_str(),
                  format_duration(eta).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%s %lld | %.0f %s/s | %s elapsed", label_.c_str(),
                  static_cast<long long>(step), rate(), unit_.c_str(),
                  format_duration(e).c_str());
  }
  line = buf;
  if (!metrics.empty()) line += " | " + metrics;
  if (!world().root()) return;  // one progress line for N ranks
  if (tty_)
    std::cerr << "\r\033[K" << line << std::flush;
  else
    std::cerr << line << std::endl;
}

void Progress::finish(const std::string& summary) {
  if (!world().root()) return;
  if (tty_) std::cerr << "\r\033[K";
  std::cerr << label_ << " done in " << format_duration(elapsed());
  if (items_ > 0) std::cerr << " (" << static_cast<long long>(rate()) << " " << unit_ << "/s)";
  if (!summary.empty()) std::cerr << " | " << summary;
  std::cerr << std::endl;
}

}  // namespace sparseloop
