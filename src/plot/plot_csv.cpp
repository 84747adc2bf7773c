// The data behind each figure as CSV (plot.h plot_csv), written by save_plot
// next to the PNG.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "sparseloop/plot/plot.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace {

/// A CSV field: quoted (with doubled quotes) when it holds a comma, a quote
/// or a line break (RFC 4180 §2).
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void points(std::ostringstream& out, const std::string& name, const std::vector<double>& x,
            const std::vector<double>& y) {
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
    out << field(name) << ',' << number(x[i]) << ',' << number(y[i]) << "\r\n";
}

}  // namespace

std::string plot_csv(const LineChart& chart) {
  std::ostringstream out;
  out << "series,x,y\r\n";
  for (const auto& s : chart.series) points(out, s.name, s.x, s.y);
  for (const auto& r : chart.references) {
    out << field("reference: " + r.label) << ',';
    if (r.horizontal) out << ',' << number(r.value) << "\r\n";
    else out << number(r.value) << ",\r\n";
  }
  return out.str();
}

std::string plot_csv(const BarChart& chart) {
  std::ostringstream out;
  out << "category,series,value,error\r\n";
  for (const auto& s : chart.series)
    for (size_t i = 0; i < chart.categories.size() && i < s.values.size(); ++i)
      out << field(chart.categories[i]) << ',' << field(s.name) << ',' << number(s.values[i])
          << ',' << (i < s.errors.size() ? number(s.errors[i]) : std::string()) << "\r\n";
  return out.str();
}

std::string plot_csv(const Heatmap& chart) {
  std::ostringstream out;
  if (!chart.values.defined() || chart.values.dim() != 2) return "";
  const auto v = chart.values.detach().to(torch::kCPU, torch::kDouble).contiguous();  // (rows, cols)
  const auto a = v.accessor<double, 2>();
  for (int64_t c = 0; c < v.size(1); ++c) out << (c ? "," : "") << "col" << c;
  out << "\r\n";
  for (int64_t r = 0; r < v.size(0); ++r) {
    for (int64_t c = 0; c < v.size(1); ++c) out << (c ? "," : "") << number(a[r][c]);
    out << "\r\n";
  }
  return out.str();
}

std::string plot_csv(const ScatterFit& chart) {
  std::ostringstream out;
  out << "series,x,y\r\n";
  points(out, chart.name, chart.xs, chart.ys);
  for (const auto& s : chart.extra) points(out, s.name, s.x, s.y);
  const LinearFit f = chart.fit ? *chart.fit : fit_line(chart.xs, chart.ys);
  // The fitted line at the points' extreme x (two points define it).
  double lo = INFINITY, hi = -INFINITY;
  for (double x : chart.xs)
    if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (lo <= hi && f.valid()) points(out, "fit", {lo, hi}, {f.slope * lo + f.intercept, f.slope * hi + f.intercept});
  return out.str();
}

namespace {

std::string sibling(const std::string& png_path, const std::string& extension) {
  const auto dot = png_path.rfind(".png");
  return (dot != std::string::npos && dot + 4 == png_path.size() ? png_path.substr(0, dot)
                                                                  : png_path) +
         extension;
}

}  // namespace

std::string csv_path(const std::string& png_path) { return sibling(png_path, ".csv"); }

std::string svg_path(const std::string& png_path) { return sibling(png_path, ".svg"); }

}  // namespace sparseloop
