#include "sparseloop/util/timing.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>

#include "sparseloop/util/compat.h"

namespace sparseloop {

std::vector<double> time_runs(const std::function<void()>& fn, int repeats, int warmup,
                              torch::Device device) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    if (device.is_cuda()) cuda_synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    if (device.is_cuda()) cuda_synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  return ms;
}

std::vector<std::vector<double>> time_interleaved(const std::vector<std::function<void()>>& fns,
                                                  int rounds, int warmup, torch::Device device) {
  std::vector<std::vector<double>> ms(fns.size());
  for (int r = 0; r < warmup + rounds; ++r) {
    for (size_t i = 0; i < fns.size(); ++i) {
      auto t = time_runs(fns[i], 1, 0, device);
      if (r >= warmup) ms[i].push_back(t[0]);
    }
  }
  return ms;
}

double median_ratio(const std::vector<double>& num, const std::vector<double>& den) {
  TORCH_CHECK(num.size() == den.size(), "median_ratio: ", num.size(), " against ", den.size(),
              " rounds");
  std::vector<double> r;
  for (size_t i = 0; i < num.size(); ++i) r.push_back(den[i] > 0 ? num[i] / den[i] : 0.0);
  return median(r);
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

namespace {

/// A "Key:   N kB" line of /proc/self/status in MiB (0 when absent).
double proc_status_mib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(key.size())) / 1024.0;  // kB
  }
  return 0.0;
}

}  // namespace

double process_peak_rss_mib() { return proc_status_mib("VmHWM:"); }

double process_rss_mib() { return proc_status_mib("VmRSS:"); }

bool reset_peak_rss() {
  // Linux ≥ 4.0: writing 5 to /proc/PID/clear_refs resets the peak resident
  // set size (VmHWM) to the current one (Documentation/filesystems/proc.rst,
  // "clear_refs").
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5" << std::flush;
  return static_cast<bool>(out);
}

double peak_memory_mib(const std::function<void()>& fn, torch::Device device) {
  if (device.is_cuda()) {
    cuda_synchronize();
    cuda_reset_peak_bytes();
    fn();
    cuda_synchronize();
    return static_cast<double>(cuda_peak_bytes()) / (1024.0 * 1024.0);
  }
  // The process's high-water mark only rises: measured without a reset, any
  // phase that stays below an earlier, larger one read 0. With the mark reset
  // to the current resident set, its rise is this phase's own peak.
  const bool reset = reset_peak_rss();
  const double before = reset ? process_rss_mib() : process_peak_rss_mib();
  fn();
  return std::max(0.0, process_peak_rss_mib() - before);
}

}  // namespace sparseloop
