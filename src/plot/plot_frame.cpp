#include "plot_frame.h"

#include <algorithm>
#include <cmath>

#include "sparseloop/plot/ticks.h"

namespace sparseloop::plot_detail {

TextStyle text_style(double size, HAlign h, VAlign v, double rotation, bool bold) {
  TextStyle s;
  s.size = size;
  s.halign = h;
  s.valign = v;
  s.rotation = rotation;
  s.bold = bold;
  return s;
}

double text_height(double size, bool bold) {
  TextStyle s;
  s.size = size;
  s.bold = bold;
  return Canvas::measure_text("Ag", s).height();
}

double slanted_labels_extent(const std::vector<std::string>& labels, double size) {
  const double a = kSlantDegrees * 3.14159265358979323846 / 180;
  return max_label_width(labels, size) * std::sin(a) + text_height(size) * std::cos(a);
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kOuterPad = 12;  ///< canvas edge to the outermost text


// A crisp 1-px line along a pixel column or row.
void vline(Canvas& c, double x, double y0, double y1, Color col) {
  const double px = std::floor(x);
  c.fill_rect(px, y0, px + 1, y1, col);
}
void hline(Canvas& c, double y, double x0, double x1, Color col) {
  const double py = std::floor(y);
  c.fill_rect(x0, py, x1, py + 1, col);
}

}  // namespace

Fonts fonts_for(const PlotStyle& style) {
  const double s = style.font_scale;
  return {12.5 * s, 14 * s, 16.5 * s, 12.5 * s, 11 * s};
}

void check_style(const PlotStyle& style) {
  TORCH_CHECK(
      style.width >= 64 && style.height >= 64 && style.width <= 16384 && style.height <= 16384,
      "PlotStyle size must be in [64, 16384] pixels, got ", style.width, "x", style.height);
  TORCH_CHECK(style.font_scale > 0 && style.font_scale <= 10,
              "PlotStyle font_scale must be in (0, 10], got ", style.font_scale);
  TORCH_CHECK(!style.palette.empty(), "PlotStyle palette is empty");
}

std::vector<Color> chart_colors(size_t n, const PlotStyle& style,
                                const std::optional<Colormap>& sequential) {
  return sequential ? sequential_colors(n, *sequential) : series_colors(n, style.palette);
}

bool AxisLayout::valid(double v) const {
  return std::isfinite(v) && (scale == AxisScale::linear || v > 0);
}

double AxisLayout::frac(double v) const {
  if (scale == AxisScale::log)
    return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  return (v - lo) / (hi - lo);
}

std::pair<double, double> data_range(const std::vector<double>& values, AxisScale scale) {
  double lo = kNaN, hi = kNaN;
  for (double v : values) {
    if (!std::isfinite(v) || (scale == AxisScale::log && v <= 0)) continue;
    if (!(lo <= v)) lo = v;
    if (!(hi >= v)) hi = v;
  }
  return {lo, hi};
}

std::pair<double, double> merge_range(std::pair<double, double> a, std::pair<double, double> b) {
  auto pick_min = [](double u, double v) {
    return std::isnan(u) ? v : std::isnan(v) ? u : std::min(u, v);
  };
  auto pick_max = [](double u, double v) {
    return std::isnan(u) ? v : std::isnan(v) ? u : std::max(u, v);
  };
  return {pick_min(a.first, b.first), pick_max(a.second, b.second)};
}

std::pair<double, double> axis_range(const Axis& axis, std::pair<double, double> data, double pad) {
  const bool log = axis.scale == AxisScale::log;
  auto usable = [log](double v) { return std::isfinite(v) && (!log || v > 0); };
  double lo = data.first, hi = data.second;
  if (!usable(lo) || !usable(hi)) lo = log ? 1 : 0, hi = log ? 10 : 1;
  // Work in log10 on log axes so that padding is multiplicative.
  auto fwd = [log](double v) { return log ? std::log10(v) : v; };
  auto back = [log](double v) { return log ? std::pow(10.0, v) : v; };
  double a = fwd(lo), b = fwd(hi);
  if (b - a <= std::abs(a) * 1e-12) {
    const double w = log ? 0.5 : std::max(std::abs(a) * 0.1, 0.5);
    a -= w, b += w;
  } else {
    const double p = (b - a) * pad;
    a -= p, b += p;
  }
  double rlo = back(a), rhi = back(b);
  if (axis.min && usable(*axis.min)) rlo = *axis.min;
  if (axis.max && usable(*axis.max)) rhi = *axis.max;
  if (!(rhi > rlo)) {  // fixed limits that contradict each other or the data
    const double w = log ? rlo * 9 : std::max(std::abs(rlo) * 0.1, 1.0);
    rhi = rlo + w;
  }
  return {rlo, rhi};
}

AxisLayout make_axis(AxisScale scale, double lo, double hi, double pixels, bool horizontal,
                     double font_size) {
  AxisLayout a;
  a.scale = scale;
  a.lo = lo;
  a.hi = hi;
  int target = std::clamp(static_cast<int>(std::lround(pixels / (horizontal ? 100 : 70))), 3,
                          horizontal ? 10 : 9);
  // Fewer ticks until neighbouring x labels keep a gap between them.
  for (;; --target) {
    if (scale == AxisScale::log) {
      a.major = log_ticks(lo, hi, target);
      a.labels = format_log_ticks(a.major);
      a.minor = log_minor_ticks(lo, hi);
    } else {
      a.major = nice_ticks(lo, hi, target);
      a.labels = format_ticks(a.major);
    }
    if (!horizontal || target <= 2 || a.major.size() < 2) break;
    const double spacing = pixels * std::abs(a.frac(a.major[1]) - a.frac(a.major[0]));
    if (max_label_width(a.labels, font_size) + 12 <= spacing) break;
  }
  return a;
}

double to_px_x(const AxisLayout& a, const Rect& r, double v) { return r.x0 + a.frac(v) * r.w(); }
double to_px_y(const AxisLayout& a, const Rect& r, double v) { return r.y1 - a.frac(v) * r.h(); }

double max_label_width(const std::vector<std::string>& labels, double size) {
  double w = 0;
  for (const auto& l : labels) w = std::max(w, Canvas::text_width(l, size));
  return w;
}

XYLayout layout_xy(const PlotStyle& style, const Fonts& f, const std::string& title, const Axis& x,
                   std::pair<double, double> xr, const Axis& y, std::pair<double, double> yr,
                   double extra_right, double x_tick_extent, bool categorical) {
  const double W = style.width, H = style.height;
  const double top =
      style.margin_top >= 0
          ? style.margin_top
          : (title.empty() ? kOuterPad + 6 : kOuterPad + text_height(f.title, true) + 14);
  const double bottom = style.margin_bottom >= 0
                            ? style.margin_bottom
                            : kTickLength + kTickGap +
                                  (x_tick_extent >= 0 ? x_tick_extent : text_height(f.tick)) +
                                  (x.label.empty() ? 0 : 10 + text_height(f.label)) + kOuterPad;
  // The left margin depends on the y tick labels, which depend on the
  // height only; the right margin on the last x tick label, which depends
  // on the width: two passes settle both.
  XYLayout out;
  double left = 70, right = 24 + extra_right;
  for (int pass = 0; pass < 2; ++pass) {
    out.area = {left, top, W - right, H - bottom};
    out.area.x1 = std::max(out.area.x1, out.area.x0 + 20);
    out.area.y1 = std::max(out.area.y1, out.area.y0 + 20);
    out.x = make_axis(x.scale, xr.first, xr.second, out.area.w(), true, f.tick);
    out.y = make_axis(y.scale, yr.first, yr.second, out.area.h(), false, f.tick);
    left = style.margin_left >= 0
               ? style.margin_left
               : kOuterPad + (y.label.empty() ? 0 : text_height(f.label) + 10) +
                     max_label_width(out.y.labels, f.tick) + kTickGap + kTickLength;
    double overhang = 0;  // half of a last x tick label that sits at the right edge
    if (!categorical && !out.x.major.empty()) {
      const double px = to_px_x(out.x, out.area, out.x.major.back());
      overhang =
          std::max(0.0, px + Canvas::text_width(out.x.labels.back(), f.tick) / 2 - out.area.x1);
    }
    right = style.margin_right >= 0 ? style.margin_right + extra_right
                                    : std::max(24.0, overhang + 8) + extra_right;
  }
  // Whole pixels keep the spines and grid crisp.
  out.area = {std::round(left), std::round(top), std::round(W - right), std::round(H - bottom)};
  out.area.x1 = std::max(out.area.x1, out.area.x0 + 20);
  out.area.y1 = std::max(out.area.y1, out.area.y0 + 20);
  out.x = make_axis(x.scale, xr.first, xr.second, out.area.w(), true, f.tick);
  out.y = make_axis(y.scale, yr.first, yr.second, out.area.h(), false, f.tick);
  return out;
}

void draw_grid(Canvas& c, const Rect& r, const AxisLayout* x, const AxisLayout* y) {
  if (x)
    for (double v : x->major) {
      const double px = to_px_x(*x, r, v);
      if (px >= r.x0 + 1 && px < r.x1) vline(c, px, r.y0, r.y1, colors::grid);
    }
  if (y)
    for (double v : y->major) {
      const double py = to_px_y(*y, r, v);
      if (py >= r.y0 && py < r.y1 - 1) hline(c, py, r.x0, r.x1, colors::grid);
    }
}

void draw_axes(Canvas& c, const Rect& r, const AxisLayout* x, const AxisLayout& y, const Fonts& f) {
  // Spines: the column left of the area and the row below it.
  c.fill_rect(r.x0 - 1, r.y0, r.x0, r.y1 + 1, colors::axis);
  c.fill_rect(r.x0 - 1, r.y1, r.x1, r.y1 + 1, colors::axis);
  const auto tick_style = text_style(f.tick, HAlign::right, VAlign::middle);
  for (size_t i = 0; i < y.major.size(); ++i) {
    const double py = std::floor(to_px_y(y, r, y.major[i]));
    if (py < r.y0 - 0.5 || py > r.y1 + 0.5) continue;
    c.fill_rect(r.x0 - 1 - kTickLength, py, r.x0 - 1, py + 1, colors::axis);
    c.text({r.x0 - 1 - kTickLength - kTickGap, py + 0.5}, y.labels[i], tick_style);
  }
  for (double v : y.minor) {
    const double py = std::floor(to_px_y(y, r, v));
    if (py >= r.y0 && py <= r.y1)
      c.fill_rect(r.x0 - 1 - kTickLength * 0.6, py, r.x0 - 1, py + 1, colors::axis);
  }
  if (!x) return;
  const auto xtick_style = text_style(f.tick, HAlign::center, VAlign::top);
  for (size_t i = 0; i < x->major.size(); ++i) {
    const double px = std::floor(to_px_x(*x, r, x->major[i]));
    if (px < r.x0 - 1.5 || px > r.x1 + 0.5) continue;
    c.fill_rect(px, r.y1 + 1, px + 1, r.y1 + 1 + kTickLength, colors::axis);
    c.text({px + 0.5, r.y1 + 1 + kTickLength + kTickGap}, x->labels[i], xtick_style);
  }
  for (double v : x->minor) {
    const double px = std::floor(to_px_x(*x, r, v));
    if (px >= r.x0 && px <= r.x1)
      c.fill_rect(px, r.y1 + 1, px + 1, r.y1 + 1 + kTickLength * 0.6, colors::axis);
  }
}

void draw_labels(Canvas& c, const Rect& r, const Fonts& f, const std::string& title,
                 const std::string& xlabel, double x_label_top, const std::string& ylabel,
                 double y_label_right, double title_top) {
  if (!title.empty()) {
    const auto s = text_style(f.title, HAlign::center, VAlign::top, 0, true);
    // Centred over the plot area unless that would run off the canvas.
    const double w = Canvas::measure_text(title, s).width;
    double cx = (r.x0 + r.x1) / 2;
    cx = std::clamp(cx, w / 2 + 4, c.width() - w / 2 - 4);
    c.text({cx, title_top >= 0 ? title_top : kOuterPad}, title, s);
  }
  if (!xlabel.empty())
    c.text({(r.x0 + r.x1) / 2, x_label_top}, xlabel,
           text_style(f.label, HAlign::center, VAlign::top));
  if (!ylabel.empty()) {
    // Rotated to read upwards; its "bottom" (descenders) faces the tick labels.
    c.text({y_label_right, (r.y0 + r.y1) / 2}, ylabel,
           text_style(f.label, HAlign::center, VAlign::bottom, 90));
  }
}

std::vector<double> dash_pattern(LineStyle line, double width) {
  switch (line) {
    case LineStyle::dashed:
      return {std::max(6.0, 3.5 * width), std::max(4.0, 2.2 * width)};
    case LineStyle::dotted:
      return {0.0, std::max(3.5, 2.2 * width)};
    default:
      return {};
  }
}

namespace {
constexpr double kLegendPad = 8;
constexpr double kSampleWidth = 28;
double row_height(const Fonts& f) { return std::max(f.legend * 1.45, 16.0); }
}  // namespace

LegendSize legend_size(const std::vector<LegendEntry>& entries, const Fonts& f) {
  if (entries.empty()) return {};
  double w = 0;
  for (const auto& e : entries) w = std::max(w, Canvas::text_width(e.name, f.legend));
  return {2 * kLegendPad + kSampleWidth + 8 + w,
          2 * kLegendPad - 4 + row_height(f) * static_cast<double>(entries.size())};
}

void draw_legend(Canvas& c, Point at, const std::vector<LegendEntry>& entries, const Fonts& f) {
  if (entries.empty()) return;
  const LegendSize box = legend_size(entries, f);
  const double x0 = std::round(at.x), y0 = std::round(at.y);
  // A nearly opaque box: data under it (when unavoidable) stays faintly visible.
  c.fill_rect(x0, y0, x0 + box.w, y0 + box.h, colors::white, 0.9);
  c.stroke_rect(x0 + 0.5, y0 + 0.5, x0 + box.w - 0.5, y0 + box.h - 0.5,
                {colors::light_gray, 1.0, {}});
  const double rh = row_height(f);
  const auto ts = text_style(f.legend, HAlign::left, VAlign::middle);
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const double cy = y0 + kLegendPad - 2 + rh * (static_cast<double>(i) + 0.5);
    const double sx0 = x0 + kLegendPad, sx1 = sx0 + kSampleWidth;
    if (e.patch) {
      const double s = std::min(12.0, rh - 4);
      c.fill_rect(sx0 + (kSampleWidth - s) / 2, cy - s / 2, sx0 + (kSampleWidth + s) / 2,
                  cy + s / 2, e.color);
    } else {
      if (e.line != LineStyle::none) {
        const double ly =
            std::floor(cy) + (std::fmod(std::round(e.line_width), 2.0) == 1 ? 0.5 : 0);
        c.line({sx0, ly}, {sx1, ly}, {e.color, e.line_width, dash_pattern(e.line, e.line_width)});
      }
      if (e.marker != Marker::none)
        c.marker({(sx0 + sx1) / 2, cy}, e.marker, e.marker_size, e.color,
                 e.line == LineStyle::none ? e.color : colors::white);
    }
    c.text({sx1 + 8, cy}, e.name, ts);
  }
}

Point legend_origin(LegendPosition pos, const Rect& r, LegendSize box) {
  switch (pos) {
    case LegendPosition::upper_left:
      return {r.x0 + kLegendInset, r.y0 + kLegendInset};
    case LegendPosition::lower_left:
      return {r.x0 + kLegendInset, r.y1 - kLegendInset - box.h};
    case LegendPosition::lower_right:
      return {r.x1 - kLegendInset - box.w, r.y1 - kLegendInset - box.h};
    case LegendPosition::outside_right:
      return {r.x1 + kOutsideGap, r.y0};
    default:
      return {r.x1 - kLegendInset - box.w, r.y0 + kLegendInset};
  }
}

LegendPosition emptiest_corner(const Rect& r, LegendSize box, const std::vector<Point>& samples,
                               int* hits) {
  const LegendPosition order[] = {LegendPosition::upper_right, LegendPosition::upper_left,
                                  LegendPosition::lower_left, LegendPosition::lower_right};
  LegendPosition best = order[0];
  int best_hits = -1;
  for (auto pos : order) {
    const Point o = legend_origin(pos, r, box);
    const Rect area{o.x - 4, o.y - 4, o.x + box.w + 4, o.y + box.h + 4};
    int n = 0;
    for (const auto& p : samples) n += area.contains(p) ? 1 : 0;
    if (best_hits < 0 || n < best_hits) best_hits = n, best = pos;
  }
  if (hits) *hits = best_hits;
  return best;
}

}  // namespace sparseloop::plot_detail
