// Scatter plots with a fitted line (ScatterFit in plot.h), drawn as a
// LineChart: the points, then the line across the x range of the data.
#include <cmath>
#include <cstdio>

#include "sparseloop/plot/plot.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace {

std::string signed_term(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g", std::abs(v));
  return std::string(v < 0 ? " \u2212 " : " + ") + buf;
}

std::string describe(const LinearFit& fit) {
  char slope[48], r2[48];
  std::snprintf(slope, sizeof slope, "%.3g", fit.slope);
  std::string s = std::string("fit: y = ") + (fit.slope < 0 ? "\u2212" : "") +
                  (slope[0] == '-' ? slope + 1 : slope) + "x" + signed_term(fit.intercept);
  if (std::isfinite(fit.r2)) {
    std::snprintf(r2, sizeof r2, "%.3f", fit.r2);
    s += std::string(" (R\u00B2 = ") + r2 + ")";
  }
  return s;
}

}  // namespace

LinearFit fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  TORCH_CHECK(x.size() == y.size(), "fit_line: ", x.size(), " x values but ", y.size(),
              " y values");
  LinearFit fit;
  // Two passes (means, then centred sums) avoid the cancellation of the
  // textbook one-pass formula when x is far from 0.
  double sx = 0, sy = 0;
  int64_t n = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) sx += x[i], sy += y[i], ++n;
  fit.n = n;
  if (n < 2) return fit;
  const double mx = sx / n, my = sy / n;
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      sxx += (x[i] - mx) * (x[i] - mx);
      sxy += (x[i] - mx) * (y[i] - my);
      syy += (y[i] - my) * (y[i] - my);
    }
  if (!(sxx > 0)) return fit;  // all x equal: no line
  fit.slope = sxy / sxx;
  fit.intercept = my - fit.slope * mx;
  fit.r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
  return fit;
}

Canvas render_plot(const ScatterFit& chart, const PlotStyle& style) {
  TORCH_CHECK(chart.xs.size() == chart.ys.size(), "ScatterFit: ", chart.xs.size(), " x values but ",
              chart.ys.size(), " y values");
  LineChart lc;
  lc.title = chart.title;
  lc.x = chart.x;
  lc.y = chart.y;
  lc.legend = chart.legend;
  Series points;
  points.name = chart.name;
  points.x = chart.xs;
  points.y = chart.ys;
  points.line = LineStyle::none;
  points.marker = Marker::circle;
  points.color = style.palette[0];
  lc.series.push_back(points);

  const LinearFit fit = chart.fit ? *chart.fit : fit_line(chart.xs, chart.ys);
  if (fit.valid()) {
    double lo = NAN, hi = NAN;
    for (size_t i = 0; i < chart.xs.size(); ++i) {
      const double v = chart.xs[i];
      if (!std::isfinite(v) || !std::isfinite(chart.ys[i])) continue;
      if (!(lo <= v)) lo = v;
      if (!(hi >= v)) hi = v;
    }
    if (chart.x.min) lo = std::isnan(lo) ? *chart.x.min : std::min(lo, *chart.x.min);
    if (chart.x.max) hi = std::isnan(hi) ? *chart.x.max : std::max(hi, *chart.x.max);
    if (std::isfinite(lo) && std::isfinite(hi)) {
      Series line;
      line.name = chart.fit_name.empty() ? describe(fit) : chart.fit_name;
      line.color = style.palette[1 % style.palette.size()];
      // Sampled, so that the line stays straight in data space on log axes.
      const int n = chart.x.scale == AxisScale::log && lo > 0 ? 64 : 2;
      for (int k = 0; k < n; ++k) {
        const double t = static_cast<double>(k) / (n - 1);
        const double v = chart.x.scale == AxisScale::log && lo > 0 ? lo * std::pow(hi / lo, t)
                                                                   : lo + (hi - lo) * t;
        line.x.push_back(v);
        line.y.push_back(fit(v));
      }
      lc.series.push_back(line);
    }
  }
  for (const auto& s : chart.extra) lc.series.push_back(s);
  return render_plot(lc, style);
}

void save_plot(const std::string& path, const ScatterFit& chart, const PlotStyle& style) {
  const Canvas canvas = render_plot(chart, style);
  canvas.write_png(path);
  canvas.write_svg(svg_path(path));
  write_file_atomic(csv_path(path), plot_csv(chart));
}

}  // namespace sparseloop
