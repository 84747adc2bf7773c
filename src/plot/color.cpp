#include "sparseloop/plot/color.h"

#include <algorithm>
#include <cmath>

namespace sparseloop {
namespace {

// Samples of viridis at t = 0, 0.1, …, 1 (the published colormap of van der
// Walt and Smith); linear interpolation between them stays within a few
// levels of the full table.
constexpr Color kViridis[] = {
    Color::hex(0x440154), Color::hex(0x482475), Color::hex(0x414487), Color::hex(0x355f8d),
    Color::hex(0x2a788e), Color::hex(0x21918c), Color::hex(0x22a884), Color::hex(0x44bf70),
    Color::hex(0x7ad151), Color::hex(0xbddf26), Color::hex(0xfde725),
};

// A diverging map whose ends have equal lightness (so that +x and −x read as
// equally strong) and whose midpoint is near white (so 0 reads as "nothing").
constexpr Color kDiverging[] = {
    Color::hex(0x2b5c9e), Color::hex(0x5b8fc7), Color::hex(0x9fc2e2),
    Color::hex(0xdbe7f2), Color::hex(0xf7f7f7), Color::hex(0xf6dccf),
    Color::hex(0xeaa288), Color::hex(0xcf6650), Color::hex(0xa52a2a),
};

template <size_t N>
Color sample(const Color (&table)[N], double t) {
  const double pos = t * static_cast<double>(N - 1);
  const size_t i = std::min(static_cast<size_t>(pos), N - 2);
  return mix(table[i], table[i + 1], pos - static_cast<double>(i));
}

}  // namespace

Color mix(Color a, Color b, double t) {
  t = std::clamp(t, 0.0, 1.0);
  auto lerp = [t](uint8_t x, uint8_t y) {
    return static_cast<uint8_t>(std::lround(x + (static_cast<double>(y) - x) * t));
  };
  return Color(lerp(a.r, b.r), lerp(a.g, b.g), lerp(a.b, b.b));
}

double luminance(Color c) { return (0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b) / 255.0; }

const std::vector<Color>& default_palette() {
  static const std::vector<Color> palette = {
      Color::hex(0x0072b2),  // blue
      Color::hex(0xd55e00),  // vermillion
      Color::hex(0x009e73),  // bluish green
      Color::hex(0xcc79a7),  // reddish purple
      Color::hex(0xe69f00),  // orange
      Color::hex(0x56b4e9),  // sky blue
      Color::hex(0x222222),  // near-black
      Color::hex(0xb8a200),  // Okabe–Ito yellow, darkened for white paper
  };
  return palette;
}

Color colormap(Colormap map, double t) {
  if (std::isnan(t)) return Color::hex(0xbdbdbd);
  t = std::clamp(t, 0.0, 1.0);
  switch (map) {
    case Colormap::viridis:
      return sample(kViridis, t);
    case Colormap::diverging:
      return sample(kDiverging, t);
    case Colormap::grays:
      return mix(colors::white, colors::black, t);
  }
  return colors::black;
}

}  // namespace sparseloop
