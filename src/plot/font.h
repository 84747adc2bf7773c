// The built-in stroke font behind Canvas::text (internal to src/io).
//
// Glyphs are polylines in font units: baseline at y = 0, y pointing up,
// capitals and digits 10 units tall, x-height 7, descenders to −3,
// brackets and superscripts up to 10.5. Each
// glyph's ink starts at x = 0 and `advance` is where the next glyph starts.
#pragma once

#include <string>
#include <vector>

#include "sparseloop/plot/canvas.h"

namespace sparseloop::font {

constexpr double kCapHeight = 10.0;
/// Tallest ink above the baseline (parentheses, brackets, superscripts).
constexpr double kAscender = 10.5;
constexpr double kDescender = 3.0;
/// Capital height as a fraction of the em size (as in common sans-serif faces).
constexpr double kCapPerEm = 0.7;

struct Glyph {
  double advance = 0;                       ///< font units, ink width + spacing
  double width = 0;                         ///< ink width, font units
  std::vector<std::vector<Point>> strokes;  ///< font units, y up
};

/// The glyph for a code point (a box for unknown ones).
const Glyph& glyph(char32_t code);

/// Decodes UTF-8; malformed bytes become U+FFFD (drawn as a box).
std::u32string decode_utf8(const std::string& text);

/// Ink width (font units) of a run of glyphs, without the trailing spacing.
double run_width(const std::u32string& text);

/// Stroke width in pixels for an em size.
double stroke_width(double size, bool bold);

}  // namespace sparseloop::font
