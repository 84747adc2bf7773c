// Heatmaps with a colorbar (Heatmap in plot.h), e.g. the cosine
// similarities of features sorted by class, with class blocks marked.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "plot_frame.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/plot/ticks.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace pd = plot_detail;

namespace {

constexpr double kPad = 12;
constexpr double kBarGap = 20;    ///< heatmap to colorbar
constexpr double kBarWidth = 16;  ///< colorbar

// Tick positions along one side of the matrix: block centres (labelled) and
// boundaries (unlabelled), or integer indices on a 1-2-5 grid.
struct SideTicks {
  std::vector<double> label_at;  ///< in cells (0 … n)
  std::vector<std::string> labels;
  std::vector<double> marks;       ///< tick marks, in cells
  std::vector<double> separators;  ///< block boundaries inside the matrix, in cells
};

SideTicks side_ticks(const std::vector<HeatmapBlock>& blocks, int64_t n, double pixels,
                     const char* what) {
  SideTicks t;
  if (!blocks.empty()) {
    int64_t total = 0;
    for (const auto& b : blocks) {
      TORCH_CHECK(b.size > 0, "Heatmap: ", what, " block '", b.label, "' has size ", b.size);
      t.marks.push_back(static_cast<double>(total));
      if (total > 0) t.separators.push_back(static_cast<double>(total));
      t.label_at.push_back(static_cast<double>(total) + b.size / 2.0);
      t.labels.push_back(b.label);
      total += b.size;
    }
    t.marks.push_back(static_cast<double>(total));
    TORCH_CHECK(total == n, "Heatmap: ", what, " blocks cover ", total, " of ", n, " entries");
    return t;
  }
  const int target = std::clamp(static_cast<int>(pixels / 70), 2, 10);
  for (double v : nice_ticks(0, static_cast<double>(n - 1), target)) {
    if (std::abs(v - std::round(v)) > 1e-9) continue;  // cells are whole indices
    t.label_at.push_back(v + 0.5);
    t.marks.push_back(v + 0.5);
    t.labels.push_back(std::to_string(static_cast<long long>(std::llround(v))));
  }
  return t;
}


}  // namespace

Canvas render_plot(const Heatmap& chart, const PlotStyle& style) {
  pd::check_style(style);
  TORCH_CHECK(chart.values.defined() && chart.values.dim() == 2,
              "Heatmap values must be a (rows, cols) tensor, got ",
              chart.values.defined() ? chart.values.sizes() : torch::IntArrayRef{});
  const auto m = chart.values.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t rows = m.size(0), cols = m.size(1);
  TORCH_CHECK(rows > 0 && cols > 0, "Heatmap values are empty: shape ", m.sizes());
  const auto f = pd::fonts_for(style);

  // Color range.
  const auto finite = m.isfinite();
  double vmin = 0, vmax = 1;
  if (finite.any().item<bool>()) {
    const auto vals = m.masked_select(finite);
    vmin = vals.min().item<double>();
    vmax = vals.max().item<double>();
  }
  if (chart.colormap == Colormap::diverging && !chart.vmin && !chart.vmax) {
    const double a = std::max(std::abs(vmin), std::abs(vmax));
    vmin = -a, vmax = a;
  }
  if (chart.vmin) vmin = *chart.vmin;
  if (chart.vmax) vmax = *chart.vmax;
  if (!(vmax > vmin)) vmin -= 0.5, vmax = vmin + 1;

  const auto& col_blocks =
      chart.col_blocks.empty() && rows == cols ? chart.row_blocks : chart.col_blocks;

  // Margins from the text that surrounds the matrix.
  const double W = style.width, H = style.height;
  const double top = style.margin_top >= 0
                         ? style.margin_top
                         : (chart.title.empty() ? kPad + 6 : kPad + pd::text_height(f.title, true) + 14);
  const auto cb_ticks = nice_ticks(vmin, vmax, 6);
  const auto cb_labels = format_ticks(cb_ticks);
  const double right = style.margin_right >= 0
                           ? style.margin_right
                           : kBarGap + kBarWidth + pd::kTickLength + pd::kTickGap +
                                 pd::max_label_width(cb_labels, f.tick) +
                                 (chart.colorbar_label.empty() ? 0 : 10 + pd::text_height(f.label)) + kPad;
  // Labels depend on the cell size only through numeric tick density, so
  // estimate with the largest square that could fit, then settle.
  auto rough_rows = side_ticks(chart.row_blocks, rows, H * 0.7, "row");
  auto rough_cols = side_ticks(col_blocks, cols, H * 0.7, "column");
  const double left = style.margin_left >= 0
                          ? style.margin_left
                          : kPad + (chart.ylabel.empty() ? 0 : pd::text_height(f.label) + 10) +
                                pd::max_label_width(rough_rows.labels, f.tick) + pd::kTickGap +
                                pd::kTickLength;
  double avail_w = std::max(10.0, W - left - right);
  double bottom_guess = pd::kTickLength + pd::kTickGap + pd::text_height(f.tick) +
                        (chart.xlabel.empty() ? 0 : 10 + pd::text_height(f.label)) + kPad;
  double avail_h = std::max(10.0, H - top - bottom_guess);
  // Column labels wider than their blocks are slanted, which needs height.
  double cell = std::min(avail_w / cols, avail_h / rows);
  bool slanted = false;
  if (!col_blocks.empty()) {
    double narrowest = 1e300;
    for (size_t i = 0; i < rough_cols.labels.size(); ++i)
      narrowest = std::min(narrowest, cell * static_cast<double>(col_blocks[i].size) -
                                          Canvas::text_width(rough_cols.labels[i], f.tick));
    if (narrowest < 6) {
      slanted = true;
      const double extra = pd::slanted_labels_extent(rough_cols.labels, f.tick) - pd::text_height(f.tick);
      avail_h = std::max(10.0, avail_h - extra - 4);
      cell = std::min(avail_w / cols, avail_h / rows);
    }
  }
  if (style.margin_bottom >= 0) {
    avail_h = std::max(10.0, H - top - style.margin_bottom);
    cell = std::min(avail_w / cols, avail_h / rows);
  }
  // Large cells are whole pixels (exact squares for annotations); smaller
  // ones are sampled by nearest neighbour, and below one pixel per cell each
  // pixel averages the cells it covers.
  if (cell >= 8) cell = std::floor(cell);
  const int64_t img_w = std::max<int64_t>(1, static_cast<int64_t>(std::floor(cols * cell)));
  const int64_t img_h = std::max<int64_t>(1, static_cast<int64_t>(std::floor(rows * cell)));
  // Centre the whole figure (title, labels, matrix, colorbar) in the canvas.
  const double title_space = chart.title.empty() ? 0 : pd::text_height(f.title, true) + 14;
  const double col_extent =
      slanted ? pd::slanted_labels_extent(rough_cols.labels, f.tick) + 4 : pd::text_height(f.tick);
  const double below = pd::kTickLength + pd::kTickGap + col_extent +
                       (chart.xlabel.empty() ? 0 : 10 + pd::text_height(f.label));
  const double x0 = std::round(left + (avail_w - static_cast<double>(img_w)) / 2);
  const double y0 =
      style.margin_top >= 0
          ? style.margin_top
          : std::round(std::max(
                top, (H - title_space - static_cast<double>(img_h) - below) / 2 + title_space));
  const pd::Rect r{x0, y0, x0 + static_cast<double>(img_w), y0 + static_cast<double>(img_h)};
  const auto row_ticks = side_ticks(chart.row_blocks, rows, r.h(), "row");
  const auto col_ticks = side_ticks(col_blocks, cols, r.w(), "column");

  Canvas c(style.width, style.height, style.background);

  // The matrix, one color per pixel.
  torch::Tensor pix;
  if (cell >= 1) {
    pix = m;
  } else {
    const auto valid = finite.to(torch::kDouble);
    const auto summed = torch::adaptive_avg_pool2d(
        (m.nan_to_num(0, 0, 0) * valid).unsqueeze(0).unsqueeze(0), {img_h, img_w});
    const auto count = torch::adaptive_avg_pool2d(valid.unsqueeze(0).unsqueeze(0), {img_h, img_w});
    pix = (summed / count).squeeze(0).squeeze(0).contiguous();  // 0/0 → NaN: gray
  }
  const auto acc = pix.accessor<double, 2>();
  const double span = vmax - vmin;
  auto cell_of = [cell](int64_t p, int64_t n) {
    return std::min(n - 1, static_cast<int64_t>((static_cast<double>(p) + 0.5) / cell));
  };
  for (int64_t py = 0; py < img_h; ++py)
    for (int64_t px = 0; px < img_w; ++px) {
      const double v = cell >= 1 ? acc[cell_of(py, rows)][cell_of(px, cols)] : acc[py][px];
      const Color col = colormap(chart.colormap, std::isfinite(v) ? (v - vmin) / span : NAN);
      c.set_pixel(static_cast<int>(x0 + px), static_cast<int>(y0 + py), col);
    }

  // Values written in large cells.
  if (chart.annotate && cell >= 8) {
    const auto ts = pd::text_style(std::min(f.small, cell * 0.35), HAlign::center, VAlign::middle);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", std::clamp(chart.annotate_decimals, 0, 6), -8.0);
    if (Canvas::text_width(buf, ts.size) + 6 <= cell && pd::text_height(ts.size) + 4 <= cell) {
      const auto macc = m.accessor<double, 2>();
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          const double v = macc[i][j];
          if (!std::isfinite(v)) continue;
          std::snprintf(buf, sizeof buf, "%.*f", std::clamp(chart.annotate_decimals, 0, 6), v);
          std::string text = buf;
          if (text[0] == '-') text = "\u2212" + text.substr(1);
          auto s = ts;
          s.color = luminance(colormap(chart.colormap, (v - vmin) / span)) > 0.5 ? colors::ink
                                                                                 : colors::white;
          c.text({x0 + (j + 0.5) * cell, y0 + (i + 0.5) * cell}, text, s);
        }
    }
  }

  // Class separators, then the frame.
  const double sx = r.w() / cols, sy = r.h() / rows;
  const Stroke sep{colors::white, 1.5, {}};
  for (double b : col_ticks.separators) c.line({x0 + b * sx, r.y0}, {x0 + b * sx, r.y1}, sep);
  for (double b : row_ticks.separators) c.line({r.x0, y0 + b * sy}, {r.x1, y0 + b * sy}, sep);
  c.stroke_rect(r.x0 - 0.5, r.y0 - 0.5, r.x1 + 0.5, r.y1 + 0.5, {colors::axis, 1.0, {}});

  // Ticks and labels on the left and bottom.
  const auto yl = pd::text_style(f.tick, HAlign::right, VAlign::middle);
  for (double mk : row_ticks.marks) {
    const double py = std::min(std::floor(y0 + mk * sy), r.y1);
    c.fill_rect(r.x0 - 1 - pd::kTickLength, py, r.x0 - 1, py + 1, colors::axis);
  }
  for (size_t i = 0; i < row_ticks.labels.size(); ++i)
    c.text({r.x0 - 1 - pd::kTickLength - pd::kTickGap, y0 + row_ticks.label_at[i] * sy},
           row_ticks.labels[i], yl);
  auto xl = pd::text_style(f.tick, HAlign::center, VAlign::top);
  if (slanted) xl = pd::text_style(f.tick, HAlign::right, VAlign::middle, pd::kSlantDegrees);
  for (double mk : col_ticks.marks) {
    const double px = std::min(std::floor(x0 + mk * sx), r.x1);
    c.fill_rect(px, r.y1 + 1, px + 1, r.y1 + 1 + pd::kTickLength, colors::axis);
  }
  for (size_t i = 0; i < col_ticks.labels.size(); ++i) {
    const double px = x0 + col_ticks.label_at[i] * sx;
    const double ty = r.y1 + 1 + pd::kTickLength + pd::kTickGap;
    c.text({slanted ? px + 4 : px, slanted ? ty + 4 : ty}, col_ticks.labels[i], xl);
  }

  // Colorbar: vmax at the top.
  const double bx0 = r.x1 + kBarGap, bx1 = bx0 + kBarWidth;
  for (int64_t py = 0; py < img_h; ++py) {
    const double t = 1.0 - (py + 0.5) / static_cast<double>(img_h);
    c.fill_rect(bx0, y0 + py, bx1, y0 + py + 1, colormap(chart.colormap, t));
  }
  c.stroke_rect(bx0 - 0.5, r.y0 - 0.5, bx1 + 0.5, r.y1 + 0.5, {colors::axis, 1.0, {}});
  const auto cl = pd::text_style(f.tick, HAlign::left, VAlign::middle);
  for (size_t i = 0; i < cb_ticks.size(); ++i) {
    const double py =
        std::clamp(std::floor(r.y1 - (cb_ticks[i] - vmin) / span * r.h()), r.y0, r.y1 - 1);
    c.fill_rect(bx1 + 1, py, bx1 + 1 + pd::kTickLength, py + 1, colors::axis);
    c.text({bx1 + 1 + pd::kTickLength + pd::kTickGap, py + 0.5}, cb_labels[i], cl);
  }
  if (!chart.colorbar_label.empty()) {
    const double lx =
        bx1 + 1 + pd::kTickLength + pd::kTickGap + pd::max_label_width(cb_labels, f.tick) + 10;
    c.text({lx, (r.y0 + r.y1) / 2}, chart.colorbar_label,
           pd::text_style(f.label, HAlign::center, VAlign::top, 90));
  }

  const double x_label_top = r.y1 + 1 + pd::kTickLength + pd::kTickGap + col_extent + 10;
  const double y_label_right = r.x0 - 1 - pd::kTickLength - pd::kTickGap -
                               pd::max_label_width(row_ticks.labels, f.tick) - 10;
  pd::draw_labels(c, r, f, chart.title, chart.xlabel, x_label_top, chart.ylabel, y_label_right,
                  y0 - title_space);
  return c;
}

void save_plot(const std::string& path, const Heatmap& chart, const PlotStyle& style) {
  const Canvas canvas = render_plot(chart, style);
  canvas.write_png(path);
  canvas.write_svg(svg_path(path));
  write_file_atomic(csv_path(path), plot_csv(chart));
}

}  // namespace sparseloop
