// Grouped bar charts (BarChart in plot.h): one group per category, one bar
// per series inside each group.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "plot_frame.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace pd = plot_detail;

namespace {

constexpr double kGroupFill = 0.8;  ///< fraction of a group's width taken by its bars

}  // namespace

Canvas render_plot(const BarChart& chart, const PlotStyle& style) {
  pd::check_style(style);
  const size_t groups = chart.categories.size();
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    TORCH_CHECK(s.values.size() == groups, "bar series ", i, " ('", s.name, "') has ",
                s.values.size(), " values for ", groups, " categories");
    TORCH_CHECK(s.errors.empty() || s.errors.size() == groups, "bar series ", i, " ('", s.name,
                "') has ", s.errors.size(), " errors for ", groups, " categories");
  }
  TORCH_CHECK(chart.y.scale == AxisScale::linear, "BarChart supports a linear y axis only");
  const auto f = pd::fonts_for(style);
  const size_t nseries = std::max<size_t>(chart.series.size(), 1);

  // Range: the bars (with their error bars) and 0, padded away from 0 only.
  double lo = 0, hi = 0;
  for (const auto& s : chart.series)
    for (size_t g = 0; g < groups; ++g) {
      const double v = s.values[g];
      if (!std::isfinite(v)) continue;
      const double e = s.errors.empty() || !std::isfinite(s.errors[g]) ? 0 : std::abs(s.errors[g]);
      lo = std::min(lo, v - e);
      hi = std::max(hi, v + e);
    }
  if (hi == lo) hi = lo + 1;
  const double pad = (hi - lo) * (chart.value_labels ? 0.12 : 0.05);
  if (hi > 0) hi += pad;
  if (lo < 0) lo -= pad;
  if (chart.y.min) lo = *chart.y.min;
  if (chart.y.max) hi = *chart.y.max;
  TORCH_CHECK(hi > lo, "BarChart y range is empty: [", lo, ", ", hi, "]");
  Axis yaxis = chart.y;
  yaxis.min = lo;
  yaxis.max = hi;
  Axis xaxis;
  xaxis.label = chart.xlabel;
  const std::pair<double, double> xr{0, std::max<double>(groups, 1)};

  // Distinct colors for any number of series (the palette's 8 once repeated).
  const auto palette = pd::chart_colors(chart.series.size(), style, chart.sequential);
  std::vector<pd::LegendEntry> entries;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    if (s.name.empty()) continue;
    entries.push_back({s.name, s.color ? *s.color : palette[i],
                       LineStyle::none, Marker::none, 0, 0, true});
  }
  const auto box = pd::legend_size(entries, f);
  LegendPosition legend = entries.empty() ? LegendPosition::none : chart.legend;

  TextStyle tick;
  tick.size = f.tick;
  double extent = Canvas::measure_text("Ag", tick).height();
  auto make_layout = [&](double extra_right) {
    auto l =
        pd::layout_xy(style, f, chart.title, xaxis, xr, yaxis, {lo, hi}, extra_right, extent, true);
    const double gw = l.area.w() / std::max<double>(groups, 1);
    if (pd::max_label_width(chart.categories, f.tick) > gw - 6 && extent < 1e3) {
      extent = pd::slanted_labels_extent(chart.categories, f.tick);
      l = pd::layout_xy(style, f, chart.title, xaxis, xr, yaxis, {lo, hi}, extra_right, extent,
                        true);
    }
    return l;
  };
  auto layout = make_layout(legend == LegendPosition::outside_right ? box.w + pd::kOutsideGap : 0);

  // Bar rectangles in pixels for the current layout.
  struct Bar {
    double x0, x1, y0, y1, value, error;
    size_t series;
  };
  auto bars_for = [&](const pd::Rect& r, const pd::AxisLayout& ya) {
    std::vector<Bar> bars;
    const double gw = r.w() / std::max<double>(groups, 1);
    const double bw = gw * kGroupFill / static_cast<double>(nseries);
    const double base = std::clamp(pd::to_px_y(ya, r, std::clamp(0.0, lo, hi)), r.y0, r.y1);
    for (size_t g = 0; g < groups; ++g)
      for (size_t i = 0; i < chart.series.size(); ++i) {
        const double v = chart.series[i].values[g];
        if (!std::isfinite(v)) continue;
        const double left = r.x0 + gw * (g + (1 - kGroupFill) / 2) + bw * static_cast<double>(i);
        // Whole-pixel edges keep neighbouring bars crisp; a 1-px gap when wide enough.
        const double x0 = std::round(left), x1 = std::round(left + bw) - (bw >= 8 ? 1 : 0);
        const double top = std::clamp(pd::to_px_y(ya, r, v), r.y0, r.y1);
        const auto& errs = chart.series[i].errors;
        bars.push_back({x0, std::max(x1, x0 + 1), std::min(top, base), std::max(top, base), v,
                        errs.empty() ? 0.0 : errs[g], i});
      }
    return bars;
  };

  if (legend == LegendPosition::best) {
    std::vector<Point> samples;
    for (const auto& b : bars_for(layout.area, layout.y)) {
      for (double y = b.y0; y <= b.y1; y += 4)
        for (double x = b.x0; x <= b.x1; x += 4) samples.push_back({x, y});
      if (chart.value_labels) samples.push_back({(b.x0 + b.x1) / 2, b.y0 - 10});
    }
    int hits = 0;
    legend = pd::emptiest_corner(layout.area, box, samples, &hits);
    if (hits > 0 && layout.area.w() - box.w - pd::kOutsideGap > 0.55 * style.width) {
      legend = LegendPosition::outside_right;
      layout = make_layout(box.w + pd::kOutsideGap);
    }
  }
  const auto& r = layout.area;
  const bool slanted = extent > Canvas::measure_text("Ag", tick).height() + 0.5;

  Canvas c(style.width, style.height, style.background);
  if (style.grid) pd::draw_grid(c, r, nullptr, &layout.y);
  c.set_clip(static_cast<int>(r.x0), static_cast<int>(r.y0), static_cast<int>(r.x1),
             static_cast<int>(r.y1));
  const auto bars = bars_for(r, layout.y);
  for (const auto& b : bars) {
    const auto& s = chart.series[b.series];
    const Color col = s.color ? *s.color : palette[b.series];
    c.fill_rect(b.x0, b.y0, b.x1, b.y1, col);
  }
  c.reset_clip();
  for (const auto& b : bars) {
    const double cx = (b.x0 + b.x1) / 2;
    double label_y = b.value >= 0 ? b.y0 : b.y1;
    if (std::isfinite(b.error) && b.error != 0) {
      const double e = std::abs(b.error);
      const double ya = std::clamp(pd::to_px_y(layout.y, r, b.value + e), r.y0, r.y1);
      const double yb = std::clamp(pd::to_px_y(layout.y, r, b.value - e), r.y0, r.y1);
      const double cap = std::max(3.0, (b.x1 - b.x0) * 0.2);
      const Stroke st{colors::axis, 1.3, {}};
      c.line({cx, ya}, {cx, yb}, st);
      c.line({cx - cap, ya}, {cx + cap, ya}, st);
      c.line({cx - cap, yb}, {cx + cap, yb}, st);
      label_y = b.value >= 0 ? std::min(label_y, ya) : std::max(label_y, yb);
    }
    if (chart.value_labels) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.*f", std::clamp(chart.value_decimals, 0, 10), b.value);
      std::string text = buf;
      if (!text.empty() && text[0] == '-') text = "\u2212" + text.substr(1);
      TextStyle ts;
      ts.size = f.small;
      ts.halign = HAlign::center;
      ts.valign = b.value >= 0 ? VAlign::bottom : VAlign::top;
      c.text({cx, b.value >= 0 ? label_y - 3 : label_y + 3}, text, ts);
    }
  }

  pd::draw_axes(c, r, nullptr, layout.y, f);
  // A zero line when bars go both ways.
  if (lo < 0 && hi > 0) {
    const double py = std::floor(pd::to_px_y(layout.y, r, 0.0));
    c.fill_rect(r.x0, py, r.x1, py + 1, colors::axis);
  }
  const double gw = r.w() / std::max<double>(groups, 1);
  TextStyle cat;
  cat.size = f.tick;
  cat.valign = VAlign::top;
  cat.halign = HAlign::center;
  if (slanted) {
    cat.halign = HAlign::right;
    cat.valign = VAlign::middle;
    cat.rotation = pd::kSlantDegrees;
  }
  for (size_t g = 0; g < groups; ++g) {
    const double cx = r.x0 + gw * (static_cast<double>(g) + 0.5);
    const double ty = r.y1 + 1 + pd::kTickGap + (slanted ? 4 : 0);
    c.text({slanted ? cx + 4 : cx, ty}, chart.categories[g], cat);
  }
  const double x_label_top = r.y1 + 1 + pd::kTickLength + pd::kTickGap + extent + 10;
  const double y_label_right =
      r.x0 - 1 - pd::kTickLength - pd::kTickGap - pd::max_label_width(layout.y.labels, f.tick) - 10;
  pd::draw_labels(c, r, f, chart.title, chart.xlabel, x_label_top, chart.y.label, y_label_right);
  if (legend != LegendPosition::none)
    pd::draw_legend(c, pd::legend_origin(legend, r, box), entries, f);
  return c;
}

void save_plot(const std::string& path, const BarChart& chart, const PlotStyle& style) {
  const Canvas canvas = render_plot(chart, style);
  canvas.write_png(path);
  canvas.write_svg(svg_path(path));
  write_file_atomic(csv_path(path), plot_csv(chart));
}

}  // namespace sparseloop
