#include "sparseloop/plot/ticks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sparseloop {
namespace {

// k-th multiple of m·10^e computed so that decimal values come out exactly
// as their literals (0.3, not 0.30000000000000004): integer × integer / 10^-e.
double multiple(long long k, int m, int e) {
  const double n = static_cast<double>(k) * m;
  const double v = e >= 0 ? n * std::pow(10.0, e) : n / std::pow(10.0, -e);
  return v == 0 ? 0.0 : v;  // no −0
}

bool is_power_of_ten(double v, int* exponent) {
  if (!(v > 0)) return false;
  const double e = std::round(std::log10(v));
  if (std::abs(v / std::pow(10.0, e) - 1.0) > 1e-9) return false;
  *exponent = static_cast<int>(e);
  return true;
}

std::string replace_minus(std::string s) {
  if (!s.empty() && s[0] == '-') s = "\u2212" + s.substr(1);
  return s;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) return {lo};
  target = std::max(target, 2);
  const double span = hi - lo;
  // A span that overflows, or is too small for the magnitude to step through.
  if (!std::isfinite(span) || std::max(std::abs(lo), std::abs(hi)) / span > 1e14) return {};
  const int e0 = static_cast<int>(std::floor(std::log10(span / target)));
  int best_m = 1, best_e = e0;
  double best_score = 1e300;
  for (int e = e0 - 1; e <= e0 + 1; ++e) {
    for (int m : {1, 2, 5}) {
      const double step = m * std::pow(10.0, e);
      const double count = std::floor(hi / step + 1e-9) - std::ceil(lo / step - 1e-9) + 1;
      // Closest count to the target by ratio (9 for 6 beats 3 for 6); ties
      // go to the larger, calmer step.
      const double score = std::abs(std::log(count / target)) - step * 1e-12 / span;
      if (count >= 2 && score < best_score) best_score = score, best_m = m, best_e = e;
    }
  }
  const double step = best_m * std::pow(10.0, best_e);
  const auto first = static_cast<long long>(std::ceil(lo / step - 1e-9));
  const auto last = static_cast<long long>(std::floor(hi / step + 1e-9));
  std::vector<double> ticks;
  for (long long k = first; k <= last && ticks.size() < 1000; ++k)
    ticks.push_back(multiple(k, best_m, best_e));
  return ticks;
}

std::vector<double> log_ticks(double lo, double hi, int target) {
  if (!(lo > 0) || !(hi > 0) || !std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  const int a = static_cast<int>(std::ceil(std::log10(lo) - 1e-9));
  const int b = static_cast<int>(std::floor(std::log10(hi) + 1e-9));
  if (b - a + 1 >= 2) {
    const int count = b - a + 1;
    const int stride = std::max(1, (count + std::max(target, 2) - 1) / std::max(target, 2));
    std::vector<double> ticks;
    // Multiples of the stride, so that 10⁰ is labelled whenever it is inside.
    for (int e = a; e <= b; ++e)
      if (((e % stride) + stride) % stride == 0) ticks.push_back(std::pow(10.0, e));
    if (ticks.size() >= 2) return ticks;
  }
  std::vector<double> ticks;
  for (int e = a - 1; e <= b; ++e)
    for (int m : {1, 2, 5}) {
      const double v = multiple(1, m, e);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
    }
  if (ticks.size() >= 2) return ticks;
  return nice_ticks(lo, hi, 4);
}

std::vector<double> log_minor_ticks(double lo, double hi) {
  if (!(lo > 0) || !(hi > 0) || !std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (std::log10(hi) - std::log10(lo) > 6) return {};
  std::vector<double> ticks;
  for (int e = static_cast<int>(std::floor(std::log10(lo))); e <= std::ceil(std::log10(hi)); ++e)
    for (int m = 2; m <= 9; ++m) {
      const double v = multiple(1, m, e);
      if (v >= lo && v <= hi) ticks.push_back(v);
    }
  return ticks;
}

std::string superscript(long long value) {
  static const char* kDigits[] = {"\u2070", "\u00B9", "\u00B2", "\u00B3", "\u2074",
                                  "\u2075", "\u2076", "\u2077", "\u2078", "\u2079"};
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out = value < 0 ? "\u207B" : "";
  for (char c : digits) out += kDigits[c - '0'];
  return out;
}

std::vector<std::string> format_ticks(const std::vector<double>& ticks) {
  std::vector<std::string> labels;
  if (ticks.empty()) return labels;
  double largest = 0;
  for (double v : ticks) largest = std::max(largest, std::abs(v));
  double step = 0;
  for (size_t i = 1; i < ticks.size(); ++i) {
    const double d = std::abs(ticks[i] - ticks[i - 1]);
    if (d > 0 && (step == 0 || d < step)) step = d;
  }
  if (step == 0) step = largest > 0 ? largest : 1;
  char buf[64];
  if (largest >= 1e6 || (largest > 0 && largest < 1e-4) || step < 1e-5) {
    // Scientific: mantissa with enough digits to tell neighbours apart.
    const int exp_step = static_cast<int>(std::floor(std::log10(step) + 1e-9));
    for (double v : ticks) {
      if (v == 0) {
        labels.push_back("0");
        continue;
      }
      const int e = static_cast<int>(std::floor(std::log10(std::abs(v)) + 1e-9));
      const int digits = std::clamp(e - exp_step, 0, 6);
      std::snprintf(buf, sizeof buf, "%.*f", digits, v / std::pow(10.0, e));
      const std::string mant = buf;
      const std::string power = "10" + superscript(e);
      if (mant == "1" || mant == "-1")
        labels.push_back(replace_minus(mant == "1" ? power : "-" + power));
      else
        labels.push_back(replace_minus(mant + "\u00D7" + power));
    }
    return labels;
  }
  const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 10);
  for (double v : ticks) {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    std::string s = buf;
    if (s.find_first_not_of("-0.") == std::string::npos) s = s.substr(s[0] == '-' ? 1 : 0);
    labels.push_back(replace_minus(s));
  }
  return labels;
}

std::vector<std::string> format_log_ticks(const std::vector<double>& ticks) {
  std::vector<std::string> labels;
  int e = 0;
  for (double v : ticks)
    if (!is_power_of_ten(v, &e)) return format_ticks(ticks);
  for (double v : ticks) {
    is_power_of_ten(v, &e);
    labels.push_back("10" + superscript(e));
  }
  return labels;
}

}  // namespace sparseloop
