// Pieces shared by the chart renderers (internal to src/io): text sizes,
// axis ranges and ticks, margins that fit the labels, axes drawing and the
// legend with its placement.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sparseloop/plot/canvas.h"
#include "sparseloop/plot/plot.h"

namespace sparseloop::plot_detail {

struct Fonts {
  double tick, label, title, legend, small;
};
Fonts fonts_for(const PlotStyle& style);

/// Checks the parts of a style every chart relies on.
void check_style(const PlotStyle& style);

/// The colors of a chart's `n` series by position (a series' own color wins):
/// the sequential colormap when set, otherwise distinct colors starting with
/// the style's palette.
std::vector<Color> chart_colors(size_t n, const PlotStyle& style,
                                const std::optional<Colormap>& sequential);

struct Rect {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  double w() const { return x1 - x0; }
  double h() const { return y1 - y0; }
  bool contains(Point p) const { return p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1; }
};

struct AxisLayout {
  AxisScale scale = AxisScale::linear;
  double lo = 0, hi = 1;  ///< value range shown
  std::vector<double> major, minor;
  std::vector<std::string> labels;
  /// Finite, and positive on a log axis.
  bool valid(double v) const;
  /// Position in [0, 1] along the axis (log10 on log axes).
  double frac(double v) const;
};

/// Smallest and largest of `values` that the axis can show (NaN, NaN when none).
std::pair<double, double> data_range(const std::vector<double>& values, AxisScale scale);
/// Merges two ranges, ignoring NaN ends.
std::pair<double, double> merge_range(std::pair<double, double> a, std::pair<double, double> b);
/// The shown range: fixed limits where set, otherwise the data range padded
/// by `pad` of its span (in log10 on log axes); degenerate ranges widened.
std::pair<double, double> axis_range(const Axis& axis, std::pair<double, double> data,
                                     double pad = 0.05);
/// Ticks and labels for a range drawn over `pixels`; on a horizontal axis
/// the ticks thin out until labels of `font_size` no longer collide.
AxisLayout make_axis(AxisScale scale, double lo, double hi, double pixels, bool horizontal,
                     double font_size);

double to_px_x(const AxisLayout& a, const Rect& r, double v);
double to_px_y(const AxisLayout& a, const Rect& r, double v);

constexpr double kTickLength = 5;
constexpr double kTickGap = 4;  ///< between a tick and its label

/// The plot area of an x–y chart: margins fitted to the title, the labels
/// and the tick labels (style margins win where set), `extra_right` pixels
/// reserved on the right (an outside legend, a colorbar). `x_tick_extent`,
/// when ≥ 0, is the height of the x tick labels (rotated category names);
/// `categorical` skips room for a numeric last x tick label.
struct XYLayout {
  Rect area;
  AxisLayout x, y;
};
XYLayout layout_xy(const PlotStyle& style, const Fonts& f, const std::string& title, const Axis& x,
                   std::pair<double, double> xr, const Axis& y, std::pair<double, double> yr,
                   double extra_right, double x_tick_extent = -1, bool categorical = false);

/// Light grid lines at the major ticks.
void draw_grid(Canvas& c, const Rect& r, const AxisLayout* x, const AxisLayout* y);
/// Left and bottom spines, ticks and tick labels (x may be null: no x ticks).
void draw_axes(Canvas& c, const Rect& r, const AxisLayout* x, const AxisLayout& y, const Fonts& f);
/// Title above the area, x label below the x tick labels, y label left of
/// the y tick labels: its right edge at `y_label_right`. The title's top is
/// at `title_top` (< 0: the canvas' top padding).
void draw_labels(Canvas& c, const Rect& r, const Fonts& f, const std::string& title,
                 const std::string& xlabel, double x_label_top, const std::string& ylabel,
                 double y_label_right, double title_top = -1);
/// Width of the widest tick label.
double max_label_width(const std::vector<std::string>& labels, double size);

/// Tick labels too long for their slot are written at this angle (degrees).
constexpr double kSlantDegrees = 40;
/// The height labels of `size` points take when written at kSlantDegrees.
double slanted_labels_extent(const std::vector<std::string>& labels, double size);

/// A text style of `size` points anchored by (h, v), rotated by `rotation` degrees.
TextStyle text_style(double size, HAlign h, VAlign v, double rotation = 0, bool bold = false);
/// Height of a line of text of `size` points (ascender to descender of "Ag").
double text_height(double size, bool bold = false);

struct LegendEntry {
  std::string name;
  Color color;
  LineStyle line = LineStyle::solid;
  Marker marker = Marker::none;
  double line_width = 2;
  double marker_size = 7;
  bool patch = false;  ///< a filled square (bars) instead of a line sample
};
struct LegendSize {
  double w = 0, h = 0;
};
LegendSize legend_size(const std::vector<LegendEntry>& entries, const Fonts& f);
void draw_legend(Canvas& c, Point top_left, const std::vector<LegendEntry>& entries,
                 const Fonts& f);
/// Inside corner for the legend that covers the fewest `samples` (pixel
/// positions of the data); ties in the order upper right, upper left, lower
/// left, lower right. `hits` receives the count for that corner.
LegendPosition emptiest_corner(const Rect& r, LegendSize box, const std::vector<Point>& samples,
                               int* hits);
/// Top-left of the legend box for a position (outside_right: right of `r`).
Point legend_origin(LegendPosition pos, const Rect& r, LegendSize box);
constexpr double kLegendInset = 10;
constexpr double kOutsideGap = 16;

/// Dash pattern in pixels for a line style and width.
std::vector<double> dash_pattern(LineStyle line, double width);

}  // namespace sparseloop::plot_detail
