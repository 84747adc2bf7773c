// Line and scatter charts (LineChart in plot.h).
#include <algorithm>
#include <cmath>

#include "plot_frame.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace pd = plot_detail;

namespace {

// The drawable runs of a series in pixels: points the axes cannot show
// (NaN, ±Inf, ≤ 0 on a log axis) end a run, so lines never bridge a gap.
std::vector<std::vector<Point>> pixel_runs(const Series& s, const pd::AxisLayout& x,
                                           const pd::AxisLayout& y, const pd::Rect& r) {
  std::vector<std::vector<Point>> runs(1);
  for (size_t i = 0; i < s.x.size(); ++i) {
    if (!x.valid(s.x[i]) || !y.valid(s.y[i])) {
      if (!runs.back().empty()) runs.emplace_back();
      continue;
    }
    runs.back().push_back({pd::to_px_x(x, r, s.x[i]), pd::to_px_y(y, r, s.y[i])});
  }
  if (runs.back().empty()) runs.pop_back();
  return runs;
}

// Where the data lies, for choosing the legend corner: every point plus
// points every few pixels along the lines.
std::vector<Point> samples_along(const std::vector<std::vector<Point>>& runs, bool lines) {
  std::vector<Point> out;
  for (const auto& run : runs) {
    for (size_t i = 0; i < run.size(); ++i) {
      out.push_back(run[i]);
      if (!lines || i + 1 == run.size()) continue;
      const double len = std::hypot(run[i + 1].x - run[i].x, run[i + 1].y - run[i].y);
      const int n = std::min(2000, static_cast<int>(len / 4));
      for (int k = 1; k < n; ++k) {
        const double t = static_cast<double>(k) / n;
        out.push_back(
            {run[i].x + (run[i + 1].x - run[i].x) * t, run[i].y + (run[i + 1].y - run[i].y) * t});
      }
    }
  }
  return out;
}

}  // namespace

Canvas render_plot(const LineChart& chart, const PlotStyle& style) {
  pd::check_style(style);
  for (size_t i = 0; i < chart.series.size(); ++i)
    TORCH_CHECK(chart.series[i].x.size() == chart.series[i].y.size(), "series ", i, " ('",
                chart.series[i].name, "') has ", chart.series[i].x.size(), " x values but ",
                chart.series[i].y.size(), " y values");
  const auto f = pd::fonts_for(style);

  // Ranges over the points both axes can show.
  std::pair<double, double> xr{NAN, NAN}, yr{NAN, NAN};
  for (const auto& s : chart.series) {
    std::vector<double> xs, ys;
    for (size_t i = 0; i < s.x.size(); ++i) {
      const bool ok_x = std::isfinite(s.x[i]) && (chart.x.scale == AxisScale::linear || s.x[i] > 0);
      const bool ok_y = std::isfinite(s.y[i]) && (chart.y.scale == AxisScale::linear || s.y[i] > 0);
      if (ok_x && ok_y) xs.push_back(s.x[i]), ys.push_back(s.y[i]);
    }
    xr = pd::merge_range(xr, pd::data_range(xs, chart.x.scale));
    yr = pd::merge_range(yr, pd::data_range(ys, chart.y.scale));
  }
  for (const auto& ref : chart.references) {
    auto& range = ref.horizontal ? yr : xr;
    range = pd::merge_range(
        range, pd::data_range({ref.value}, ref.horizontal ? chart.y.scale : chart.x.scale));
  }
  xr = pd::axis_range(chart.x, xr);
  yr = pd::axis_range(chart.y, yr);

  // Distinct colors for any number of series (the palette's 8 once repeated).
  const auto palette = pd::chart_colors(chart.series.size(), style, chart.sequential);
  auto series_color = [&](size_t i) {
    return chart.series[i].color ? *chart.series[i].color : palette[i];
  };
  std::vector<pd::LegendEntry> entries;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    if (s.name.empty()) continue;
    entries.push_back({s.name, series_color(i), s.line, s.marker,
                       s.line_width > 0 ? s.line_width : style.line_width,
                       s.marker_size > 0 ? s.marker_size : style.marker_size, false});
  }
  const auto box = pd::legend_size(entries, f);
  LegendPosition legend = entries.empty() ? LegendPosition::none : chart.legend;

  auto layout =
      pd::layout_xy(style, f, chart.title, chart.x, xr, chart.y, yr,
                    legend == LegendPosition::outside_right ? box.w + pd::kOutsideGap : 0);
  if (legend == LegendPosition::best) {
    std::vector<Point> samples;
    for (const auto& s : chart.series) {
      const auto pts =
          samples_along(pixel_runs(s, layout.x, layout.y, layout.area), s.line != LineStyle::none);
      samples.insert(samples.end(), pts.begin(), pts.end());
    }
    int hits = 0;
    legend = pd::emptiest_corner(layout.area, box, samples, &hits);
    // Every corner covers data: move the legend out if the plot stays wide.
    if (hits > 0 && layout.area.w() - box.w - pd::kOutsideGap > 0.55 * style.width) {
      legend = LegendPosition::outside_right;
      layout =
          pd::layout_xy(style, f, chart.title, chart.x, xr, chart.y, yr, box.w + pd::kOutsideGap);
    }
  }
  const auto& r = layout.area;

  Canvas c(style.width, style.height, style.background);
  if (style.grid) pd::draw_grid(c, r, &layout.x, &layout.y);

  // Data, clipped to the plot area.
  c.set_clip(static_cast<int>(r.x0), static_cast<int>(r.y0) - 1, static_cast<int>(r.x1) + 1,
             static_cast<int>(r.y1));
  for (const auto& ref : chart.references) {
    const auto& axis = ref.horizontal ? layout.y : layout.x;
    if (!axis.valid(ref.value)) continue;
    const Stroke st{ref.color, 1.3, {5, 4}};
    TextStyle ts;
    ts.size = f.small;
    ts.color = mix(ref.color, colors::black, 0.35);
    if (ref.horizontal) {
      const double py = std::floor(pd::to_px_y(axis, r, ref.value)) + 0.5;
      c.line({r.x0, py}, {r.x1, py}, st);
      ts.halign = HAlign::right;
      c.text({r.x1 - 6, py - 5}, ref.label, ts);
    } else {
      const double px = std::floor(pd::to_px_x(axis, r, ref.value)) + 0.5;
      c.line({px, r.y0}, {px, r.y1}, st);
      ts.valign = VAlign::top;
      c.text({px + 5, r.y0 + 6}, ref.label, ts);
    }
  }
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    const Color col = series_color(i);
    const double lw = s.line_width > 0 ? s.line_width : style.line_width;
    const auto runs = pixel_runs(s, layout.x, layout.y, r);
    if (s.line != LineStyle::none)
      for (const auto& run : runs)
        if (run.size() >= 2) c.polyline(run, {col, lw, pd::dash_pattern(s.line, lw)});
    if (s.marker != Marker::none) {
      const double ms = s.marker_size > 0 ? s.marker_size : style.marker_size;
      // A white rim separates markers from the line under them and from each other.
      const Color edge = s.line == LineStyle::none ? mix(col, colors::white, 0.55) : colors::white;
      for (const auto& run : runs)
        for (const auto& p : run) c.marker(p, s.marker, ms, col, edge);
    } else if (s.line != LineStyle::none) {
      // An isolated point has no line to show it: draw it as a dot.
      for (const auto& run : runs)
        if (run.size() == 1) c.fill_circle(run[0], lw * 1.5, col);
    }
  }
  c.reset_clip();

  pd::draw_axes(c, r, &layout.x, layout.y, f);
  TextStyle tick;
  tick.size = f.tick;
  const double x_label_top =
      r.y1 + 1 + pd::kTickLength + pd::kTickGap + Canvas::measure_text("Ag", tick).height() + 10;
  const double y_label_right =
      r.x0 - 1 - pd::kTickLength - pd::kTickGap - pd::max_label_width(layout.y.labels, f.tick) - 10;
  pd::draw_labels(c, r, f, chart.title, chart.x.label, x_label_top, chart.y.label, y_label_right);
  if (legend != LegendPosition::none)
    pd::draw_legend(c, pd::legend_origin(legend, r, box), entries, f);
  return c;
}

void save_plot(const std::string& path, const LineChart& chart, const PlotStyle& style) {
  const Canvas canvas = render_plot(chart, style);
  canvas.write_png(path);
  canvas.write_svg(svg_path(path));
  write_file_atomic(csv_path(path), plot_csv(chart));
}

}  // namespace sparseloop
