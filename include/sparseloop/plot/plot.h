// Paper-style figures rendered on a Canvas and written as PNG: line and
// scatter charts (training curves, sweeps), heatmaps with a colorbar
// (cosine similarities sorted by class), grouped bar charts (accuracy per
// noise level and method) and scatter plots with a fitted line (λ against
// the reconstruction residual).
//
// Every chart is a plain struct describing what to show; render_plot draws
// it and save_plot writes it. Layout is automatic: margins fit the tick and
// axis labels, ticks follow the 1-2-5 rule (or decades on log axes), and
// the legend goes to the emptiest corner of the plot, or outside on the
// right when every corner would cover data. Non-finite points (and
// non-positive ones on log axes) are skipped and break the line.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "sparseloop/plot/canvas.h"
#include "sparseloop/plot/color.h"

namespace sparseloop {

struct PlotStyle {
  int width = 800;          ///< pixels
  int height = 500;         ///< pixels
  double font_scale = 1.0;  ///< multiplies every text size (tick labels are 12.5 px at 1)
  /// Margins around the plot area in pixels; negative: fitted to the labels.
  int margin_left = -1, margin_right = -1, margin_top = -1, margin_bottom = -1;
  double line_width = 2.0;   ///< default series line width, pixels
  double marker_size = 7.0;  ///< default marker diameter, pixels
  bool grid = true;          ///< light grid lines at the major ticks
  Color background = colors::white;
  std::vector<Color> palette = default_palette();  ///< series colors, in order
};

enum class AxisScale { linear, log };
enum class LineStyle { solid, dashed, dotted, none };
enum class LegendPosition {
  best,
  upper_right,
  upper_left,
  lower_left,
  lower_right,
  outside_right,
  none
};

struct Axis {
  std::string label;
  AxisScale scale = AxisScale::linear;
  std::optional<double> min, max;  ///< fixed limits; unset: the data range plus 5 %
};

struct Series {
  std::string name;  ///< legend entry; series with empty names stay out of the legend
  std::vector<double> x, y;
  LineStyle line = LineStyle::solid;  ///< none: markers only (a scatter)
  Marker marker = Marker::none;
  std::optional<Color> color;  ///< unset: the chart's color for its position
  double line_width = 0;       ///< 0: PlotStyle::line_width
  double marker_size = 0;      ///< 0: PlotStyle::marker_size
};

/// A horizontal (y = value) or vertical (x = value) dashed reference line,
/// e.g. a value reported in a paper, labelled at its end.
struct ReferenceLine {
  double value = 0;
  std::string label;
  bool horizontal = true;
  Color color = colors::mid_gray;
};

struct LineChart {
  std::string title;
  Axis x, y;
  std::vector<Series> series;
  std::vector<ReferenceLine> references;
  LegendPosition legend = LegendPosition::best;
  /// Unset: series take distinct colors, the palette's first (series_colors).
  /// Set: the series are ordered (noise levels, …) and take this sequential
  /// colormap in their order (sequential_colors).
  std::optional<Colormap> sequential;
};

/// A run of rows (or columns) belonging to one class, e.g. {"cat", 100}.
struct HeatmapBlock {
  std::string label;
  int64_t size = 0;
};

struct Heatmap {
  std::string title;
  torch::Tensor values;              ///< (rows, cols), any floating dtype; NaN cells are gray
  std::optional<double> vmin, vmax;  ///< color range; unset: the data range
                                     ///< (symmetric about 0 for the diverging map)
  Colormap colormap = Colormap::viridis;
  std::string colorbar_label;
  std::string xlabel, ylabel;
  /// Class blocks along the rows and columns (sizes must sum to the matrix
  /// size): labelled at their centres and separated by thin white lines.
  /// When col_blocks is empty and the matrix is square, row_blocks serve both.
  std::vector<HeatmapBlock> row_blocks, col_blocks;
  bool annotate = false;  ///< write each value in its cell (when cells are large enough)
  int annotate_decimals = 2;
};

struct BarSeries {
  std::string name;
  std::vector<double> values;  ///< one per category; NaN: no bar
  std::vector<double> errors;  ///< optional ± error bars, one per category
  std::optional<Color> color;
};

struct BarChart {
  std::string title;
  std::string xlabel;
  Axis y;  ///< linear; the bars start at 0, which is always inside the range
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
  bool value_labels = false;  ///< write each value above its bar
  int value_decimals = 1;
  LegendPosition legend = LegendPosition::best;
  /// As LineChart::sequential: a colormap for ordered series.
  std::optional<Colormap> sequential;
};

/// Least-squares line y ≈ slope·x + intercept over the finite pairs.
struct LinearFit {
  double slope = std::numeric_limits<double>::quiet_NaN();
  double intercept = std::numeric_limits<double>::quiet_NaN();
  double r2 = std::numeric_limits<double>::quiet_NaN();  ///< coefficient of determination
  int64_t n = 0;                                         ///< pairs used
  bool valid() const { return n >= 2 && std::isfinite(slope) && std::isfinite(intercept); }
  double operator()(double x) const { return slope * x + intercept; }
};

/// Fits a line to the pairs (x[i], y[i]) where both are finite; fewer than two
/// distinct x give an invalid fit (n counts the pairs used).
LinearFit fit_line(const std::vector<double>& x, const std::vector<double>& y);

struct ScatterFit {
  std::string title;
  Axis x, y;
  std::string name = "data";  ///< legend entry of the points
  std::vector<double> xs, ys;
  /// The line to draw; unset: fit_line(xs, ys).
  std::optional<LinearFit> fit;
  /// Legend entry of the line; empty: "fit: y = a·x + b (R² = …)".
  std::string fit_name;
  std::vector<Series> extra;  ///< drawn on top, e.g. a highlighted selected point
  LegendPosition legend = LegendPosition::best;
};

Canvas render_plot(const LineChart& chart, const PlotStyle& style = {});
Canvas render_plot(const Heatmap& chart, const PlotStyle& style = {});
Canvas render_plot(const BarChart& chart, const PlotStyle& style = {});
Canvas render_plot(const ScatterFit& chart, const PlotStyle& style = {});

/// The plotted data as CSV (RFC 4180, a header row, numbers with 9
/// significant digits, NaN as `nan`), so that users can re-plot a figure:
/// LineChart `series,x,y` (one row per point; reference lines as series
/// "reference: <label>" with the other coordinate empty); BarChart
/// `category,series,value,error`; Heatmap the matrix, one CSV row per row;
/// ScatterFit `series,x,y` for the points and the extra series, then the
/// fitted line's two ends at the points' extreme x as series `fit`.
std::string plot_csv(const LineChart& chart);
std::string plot_csv(const Heatmap& chart);
std::string plot_csv(const BarChart& chart);
std::string plot_csv(const ScatterFit& chart);
/// Where save_plot puts a figure's CSV: `.png` replaced by `.csv`.
std::string csv_path(const std::string& png_path);
/// Where save_plot puts a figure's SVG: `.png` replaced by `.svg`.
std::string svg_path(const std::string& png_path);

/// render_plot, then the PNG written atomically to `path`, and next to it
/// the same figure as SVG (svg_path, Canvas::svg) and its data (csv_path, plot_csv).
void save_plot(const std::string& path, const LineChart& chart, const PlotStyle& style = {});
void save_plot(const std::string& path, const Heatmap& chart, const PlotStyle& style = {});
void save_plot(const std::string& path, const BarChart& chart, const PlotStyle& style = {});
void save_plot(const std::string& path, const ScatterFit& chart, const PlotStyle& style = {});

}  // namespace sparseloop
