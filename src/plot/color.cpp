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

// OKLCh (lightness, chroma, hue in degrees) to 8-bit sRGB, clipped to the
// gamut: Oklab (B. Ottosson, "A perceptual color space for image
// processing", 2020) spaces equal steps of hue and lightness about equally
// far apart to the eye, which sRGB hue circles do not.
Color from_oklch(double L, double C, double hue_degrees) {
  const double h = hue_degrees * 3.14159265358979323846 / 180.0;
  const double a = C * std::cos(h), b = C * std::sin(h);
  const double l_ = L + 0.3963377774 * a + 0.2158037573 * b;
  const double m_ = L - 0.1055613458 * a - 0.0638541728 * b;
  const double s_ = L - 0.0894841775 * a - 1.2914855480 * b;
  const double l = l_ * l_ * l_, m = m_ * m_ * m_, s = s_ * s_ * s_;
  const double lin[3] = {4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
                         -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
                         -0.0041960863 * l - 0.7034186147 * m + 1.7076147010 * s};
  uint8_t out[3];
  for (int i = 0; i < 3; ++i) {
    const double v = std::clamp(lin[i], 0.0, 1.0);
    const double srgb = v <= 0.0031308 ? 12.92 * v : 1.055 * std::pow(v, 1 / 2.4) - 0.055;
    out[i] = static_cast<uint8_t>(std::lround(255.0 * srgb));
  }
  return Color(out[0], out[1], out[2]);
}

double distance(Color a, Color b) {
  const double dr = a.r - b.r, dg = a.g - b.g, db = a.b - b.b;
  return std::sqrt(dr * dr + dg * dg + db * db);
}

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

std::vector<Color> series_colors(size_t n, const std::vector<Color>& palette) {
  std::vector<Color> out;
  for (const Color& c : palette) {
    if (out.size() == n) return out;
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  // Beyond the palette: hues 137.5° apart (the golden angle, so that every
  // new hue falls in the widest gap left), first at three lightness levels
  // that read on white, later also spread over lightness and chroma (the
  // additive recurrence of the plastic number, a low-discrepancy sequence),
  // so the candidates never run out. A candidate is kept only at least `gap`
  // (sRGB units) from every earlier color; when many series have filled the
  // space the gap shrinks, so any number of series gets distinct colors.
  constexpr double kLightness[] = {0.58, 0.45, 0.70};
  double gap = 48.0;
  int misses = 0;
  for (uint64_t k = 0; out.size() < n; ++k) {
    const double kd = static_cast<double>(k);
    const double hue = 25.0 + 137.50776405 * kd;
    double L = kLightness[k % 3], C = 0.14;
    if (k >= 24) {
      L = 0.38 + 0.40 * std::fmod(0.7548776662 * kd, 1.0);
      C = 0.05 + 0.11 * std::fmod(0.5698402910 * kd, 1.0);
    }
    const Color c = from_oklch(L, C, hue);
    double nearest = 1e9;
    for (const Color& o : out) nearest = std::min(nearest, distance(c, o));
    if (nearest >= gap && nearest > 0) {
      out.push_back(c);
      misses = 0;
    } else if (++misses > 64) {
      gap *= 0.7;
      misses = 0;
    }
  }
  return out;
}

std::vector<Color> sequential_colors(size_t n, Colormap map) {
  std::vector<Color> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(colormap(map, n > 1 ? 0.85 * static_cast<double>(i) / static_cast<double>(n - 1)
                                      : 0.0));
  return out;
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
