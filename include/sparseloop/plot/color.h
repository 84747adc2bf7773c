// RGB colors for figures: named colors, the series palette and the
// colormaps used by heatmaps. Colors are 8-bit sRGB; interpolation between
// colormap anchors is linear in sRGB, which is close enough to perceptual
// uniformity when the anchors are dense (viridis has 11 here).
#pragma once

#include <cstdint>
#include <vector>

namespace sparseloop {

struct Color {
  uint8_t r = 0, g = 0, b = 0;

  constexpr Color() = default;
  constexpr Color(uint8_t red, uint8_t green, uint8_t blue) : r(red), g(green), b(blue) {}
  /// From 0xRRGGBB.
  static constexpr Color hex(uint32_t rgb) {
    return Color(static_cast<uint8_t>((rgb >> 16) & 0xff), static_cast<uint8_t>((rgb >> 8) & 0xff),
                 static_cast<uint8_t>(rgb & 0xff));
  }
  constexpr bool operator==(const Color& o) const { return r == o.r && g == o.g && b == o.b; }
  constexpr bool operator!=(const Color& o) const { return !(*this == o); }
};

namespace colors {
constexpr Color white = Color::hex(0xffffff);
constexpr Color black = Color::hex(0x000000);
/// Text and axis lines: near-black reads softer than pure black on screens.
constexpr Color ink = Color::hex(0x222222);
constexpr Color axis = Color::hex(0x444444);
constexpr Color grid = Color::hex(0xe6e6e6);
constexpr Color light_gray = Color::hex(0xcccccc);
constexpr Color mid_gray = Color::hex(0x888888);
}  // namespace colors

/// `a` when t = 0, `b` when t = 1 (t clamped).
Color mix(Color a, Color b, double t);

/// Relative luminance in [0, 1] (Rec. 709 weights on sRGB values), used to
/// pick black or white text over a colored cell.
double luminance(Color c);

/// The default series colors: the Okabe–Ito palette (distinguishable under
/// the common color-vision deficiencies), reordered so that the first few are
/// also distinct in grayscale print, with its yellow darkened to read on white.
const std::vector<Color>& default_palette();

enum class Colormap {
  viridis,    ///< sequential, perceptually uniform (for [0, 1] or any range)
  diverging,  ///< blue – white – red, for signed data centred on 0 (e.g. [−1, 1])
  grays,      ///< white → black
};

/// Maps t ∈ [0, 1] (clamped; NaN gives mid gray) through `map`.
Color colormap(Colormap map, double t);

/// Colors for `n` unordered series, all different: `palette` in order, then
/// (for more series than it holds) further hues at alternating lightness,
/// each kept apart from every earlier color.
std::vector<Color> series_colors(size_t n, const std::vector<Color>& palette = default_palette());

/// Colors for `n` ordered series (noise levels, λ values): evenly spaced
/// samples of a sequential colormap from t = 0 to 0.85 (viridis's last,
/// yellow stretch is hard to see on white), so neighbouring levels get
/// neighbouring colors and the order reads off the colors.
std::vector<Color> sequential_colors(size_t n, Colormap map = Colormap::viridis);

}  // namespace sparseloop
