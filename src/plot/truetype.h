// TrueType text for Canvas::text (internal to src/plot): glyph outlines of a
// real font, laid out with its advances and kerning, as contours for the
// canvas's anti-aliased non-zero fill. Parsing is stb_truetype's (Debian's
// libstb-dev); the font is DejaVu Sans (fonts-dejavu-core), which covers the
// labels' λ σ Δ ‖ ℓ ₁ ≈ ∞ and combining accents (Ẑ). Where no font file is
// found, or a string holds a code point the font lacks, Canvas falls back to
// the built-in stroke font (font.h).
#pragma once

#include <string>
#include <vector>

#include "sparseloop/plot/canvas.h"

namespace sparseloop::truetype {

struct Face;

/// The face for regular or bold text; nullptr when no font is available.
/// SPARSELOOP_FONT=/path/to/font.ttf picks another font (for both weights),
/// SPARSELOOP_FONT=none disables TrueType text (the stroke font is used).
const Face* face(bool bold);

/// Whether the face has a glyph for every code point of `text`.
bool covers(const Face& f, const std::u32string& text);

/// A string's outlines in em units (y up, baseline at y = 0), placed so that
/// the ink starts at x = 0; `width` is the ink's width.
struct Layout {
  std::vector<std::vector<Point>> contours;
  double width = 0;
};
/// `flatness_em`: the largest distance, in em units, between a curve and the
/// segments that replace it.
Layout layout(const Face& f, const std::u32string& text, double flatness_em);

/// Vertical metrics in em units: the font's ascender and descender (both
/// positive) and the height of a capital H.
double ascent(const Face& f);
double descent(const Face& f);
double cap_height(const Face& f);

}  // namespace sparseloop::truetype
