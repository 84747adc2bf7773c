// Axis tick positions and labels for figures: "nice" values on the 1-2-5
// rule for linear axes, decades for log axes, and labels that share one
// number format per axis (0.0, 0.5, 1.0 rather than 0, 0.5, 1).
#pragma once

#include <string>
#include <vector>

namespace sparseloop {

/// Ticks m·10^k (m ∈ {1, 2, 5}, one step for all) inside [lo, hi], about
/// `target` of them, e.g. [0, 0.93] → 0, 0.2, 0.4, 0.6, 0.8. lo == hi gives
/// {lo}; non-finite bounds give none.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

/// Ticks for a log axis over [lo, hi] (0 < lo ≤ hi): the powers of ten
/// inside, every k-th one when there are more than `target`; when fewer
/// than two decades fall inside, 1-2-5 multiples of powers of ten, then
/// linear nice ticks.
std::vector<double> log_ticks(double lo, double hi, int target = 8);

/// Unlabelled minor ticks of a log axis: 2…9 × 10^k inside [lo, hi], only
/// when the axis spans at most 6 decades (denser ones would be a grey smear).
std::vector<double> log_minor_ticks(double lo, double hi);

/// Labels for linear ticks with a shared number of decimals, a true minus
/// sign (−), and "2.5×10⁶"-style labels for very large or small values.
std::vector<std::string> format_ticks(const std::vector<double>& ticks);

/// Labels for log ticks: "10⁻³" for powers of ten, otherwise as format_ticks.
std::vector<std::string> format_log_ticks(const std::vector<double>& ticks);

/// An integer written with superscript digits and minus ("⁻¹²").
std::string superscript(long long value);

}  // namespace sparseloop
