// A small RGB raster canvas for figures: anti-aliased lines, polylines,
// rectangles, circles, markers and text, all clipped to an optional
// rectangle, then exported as a tensor or PNG.
//
// Coordinates are in pixels with the origin at the top-left; pixel (i, j)
// covers [i, i+1) × [j, j+1), so a 1-px line is crisp when drawn through
// pixel centres (y = j + 0.5). Every stroke (a polyline, a dashed line, a
// whole text string) is rasterized into a coverage mask first and blended
// once, so overlapping segments and stroke joints never darken.
//
// Text is drawn from the outlines of a real font, DejaVu Sans from Debian's
// fonts-dejavu-core (src/plot/truetype.h, parsed by stb_truetype), filled
// with anti-aliasing at any size and rotation; it covers the papers' λ σ Δ
// ‖ ℓ₁ ≈ ∞ and combining accents such as Ẑ. Where no font file exists, or a
// string holds a code point the font lacks, the built-in stroke font
// (src/plot/font.cpp: printable ASCII, the Greek letters of the papers,
// super- and subscript digits, − × ± · ° ≈ ≤ ≥ → ‖ ∞; others as a box)
// draws it instead, so figures never depend on what a machine has installed.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sparseloop/plot/color.h"

namespace sparseloop {

namespace truetype {
struct Face;  // src/plot/truetype.h
}

struct Point {
  double x = 0, y = 0;
};

/// How a line is drawn. `dash` alternates on/off lengths in pixels along the
/// line (empty: solid); dashes have round caps, so short "on" lengths make dots.
struct Stroke {
  Color color = colors::black;
  double width = 1.0;
  std::vector<double> dash;
};

enum class Marker { none, circle, square, triangle, diamond, cross, plus };

enum class HAlign { left, center, right };
/// `top`: y is the top of the tallest glyphs (brackets, superscripts, a
/// little above the capitals); `middle`: y is halfway up the
/// capitals (digits centre on a tick); `baseline`; `bottom`: y is the bottom
/// of the descenders.
enum class VAlign { top, middle, baseline, bottom };

struct TextStyle {
  double size = 13.0;  ///< em size in pixels; capitals are 0.7 × size tall
  Color color = colors::ink;
  HAlign halign = HAlign::left;
  VAlign valign = VAlign::baseline;
  double rotation = 0.0;  ///< degrees counter-clockwise about the anchor (90: reads upwards)
  bool bold = false;
};

/// Extent of a string in its own (unrotated) frame, in pixels.
struct TextMetrics {
  double width = 0;    ///< ink from the left of the first glyph to the right of the last
  double ascent = 0;   ///< baseline to the top of the tallest glyphs (incl. stroke)
  double descent = 0;  ///< baseline to the bottom of the descenders (positive)
  double height() const { return ascent + descent; }
};

class Canvas {
 public:
  /// A width × height canvas filled with `background`; sizes must be in [1, 16384].
  Canvas(int width, int height, Color background = colors::white);

  int width() const { return width_; }
  int height() const { return height_; }

  /// The color at (x, y); throws when outside the canvas.
  Color pixel(int x, int y) const;
  /// Sets (x, y) ignoring clipping; no-op outside the canvas.
  void set_pixel(int x, int y, Color c);
  /// Blends `c` over (x, y) with opacity `alpha` ∈ [0, 1], honouring the clip rectangle.
  void blend_pixel(int x, int y, Color c, double alpha);

  /// Restricts drawing to [x0, x1) × [y0, y1) (intersected with the canvas).
  void set_clip(int x0, int y0, int x1, int y1);
  void reset_clip();

  /// Fills [x0, x1) × [y0, y1); fractional edges are anti-aliased. `alpha` < 1 tints.
  void fill_rect(double x0, double y0, double x1, double y1, Color c, double alpha = 1.0);
  /// Outline centred on the edges of [x0, x1] × [y0, y1].
  void stroke_rect(double x0, double y0, double x1, double y1, const Stroke& stroke);

  void line(Point a, Point b, const Stroke& stroke);
  /// Connected segments with round joins (1 point: a dot of the stroke's
  /// width). Draws nothing if any point is NaN or infinite: split the data
  /// at gaps first.
  void polyline(const std::vector<Point>& points, const Stroke& stroke);
  void fill_circle(Point center, double radius, Color c);
  void stroke_circle(Point center, double radius, const Stroke& stroke);
  /// Fills a convex polygon (vertices in either order).
  void fill_convex_polygon(const std::vector<Point>& vertices, Color c);
  /// A plot marker of diameter `size` centred on `center`; filled shapes get
  /// a thin outline in `edge` when it differs from `fill`.
  void marker(Point center, Marker shape, double size, Color fill, Color edge);
  void marker(Point center, Marker shape, double size, Color fill) {
    marker(center, shape, size, fill, fill);
  }

  /// Draws UTF-8 `text` anchored at `anchor` (see TextStyle).
  void text(Point anchor, const std::string& text, const TextStyle& style);
  /// Size of `text` drawn with `style` (rotation ignored).
  static TextMetrics measure_text(const std::string& text, const TextStyle& style);
  /// Shorthand for measure_text(text, {size, …, bold}).width.
  static double text_width(const std::string& text, double size, bool bold = false);

  /// Copies an image (C,H,W) or (H,W), C ∈ {1, 3, 4} (alpha ignored), uint8
  /// or float in [0, 1], with its top-left at (x, y), each pixel repeated
  /// `scale` × `scale` times. Honours the clip rectangle.
  void draw_image(int x, int y, const torch::Tensor& image, int scale = 1);

  /// (3, height, width) uint8.
  torch::Tensor to_tensor() const;
  /// PNG bytes of the canvas.
  std::string encode_png() const;
  /// Writes the canvas as a PNG file, atomically.
  void write_png(const std::string& path) const;

  /// The pixels, row-major RGB.
  const std::vector<uint8_t>& data() const { return rgb_; }

  /// The same drawing as an SVG 1.1 document (issue 11: figures users can
  /// edit and scale): every primitive drawn so far as a vector element in
  /// drawing order, text as <text> in DejaVu Sans (editable, searchable),
  /// clip rectangles as clipPaths, and raster content — draw_image and runs
  /// of single pixels set from outside (heatmap cells) — as embedded PNGs.
  std::string svg() const;
  /// Writes svg() atomically.
  void write_svg(const std::string& path) const;

 private:
  class Mask;  // coverage accumulator, see canvas.cpp
  Mask mask_for(double x0, double y0, double x1, double y1) const;
  void truetype_text(const truetype::Face& face, Point anchor, const std::u32string& codes,
                     const TextStyle& style);
  void blend_mask(const Mask& mask, Color c);
  void stroke_into(Mask& mask, const std::vector<Point>& points, const Stroke& stroke) const;

  // SVG recording: only the outermost public call records (marker, text and
  // dashed circles draw through other primitives); `Recording` guards that.
  friend struct SvgRecording;
  void svg_flush_pixels();
  void svg_add_image(double x, double y, double w, double h, torch::Tensor image);

  int width_, height_;
  int clip_x0_, clip_y0_, clip_x1_, clip_y1_;
  std::vector<uint8_t> rgb_;
  Color background_;
  int svg_depth_ = 0;
  std::string svg_body_;
  int svg_clips_ = 0;
  bool svg_clip_open_ = false;
  /// Raster content, PNG-encoded when svg() is asked for; the body holds
  /// "\x01<index>\x01" where each goes.
  std::vector<torch::Tensor> svg_images_;
  int pix_x0_ = 0, pix_y0_ = 0, pix_x1_ = -1, pix_y1_ = -1;  ///< pending pixel run (empty: x1 < x0)
};

}  // namespace sparseloop
