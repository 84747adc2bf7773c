// The stroke font: every glyph drawn for this project as polylines and
// elliptical arcs on a 10-unit capital height (see font.h for the metrics).
//
// Glyph source syntax: strokes separated by '|'; within a stroke,
// space-separated items that are either a point "x,y" or an arc
// "acx,cy,rx,ry,from,to" (degrees, counter-clockwise with y up; to < from
// runs clockwise). Arc samples are appended to the stroke, so lines and arcs
// chain into one polyline. A stroke with a single point is a dot.
#include "font.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_map>

namespace sparseloop::font {
namespace {

// Space between the ink of neighbouring glyphs, in font units.
constexpr double kSpacing = 2.6;

struct GlyphSource {
  char32_t code;
  double width;  ///< explicit ink-box width (tabular digits), or < 0 to measure the ink
  const char* strokes;
};

// clang-format off
const GlyphSource kGlyphs[] = {
    {U' ', 1.9, ""},
    {U'!', -1, "0,10 0,3|0,0.6"},
    {U'"', -1, "0,10 0,7.2|2.2,10 2.2,7.2"},
    {U'#', -1, "2,0 2.8,10|4.8,0 5.6,10|0.3,3.3 7,3.3|0.8,6.7 7.5,6.7"},
    {U'$', -1, "a3.1,7.5,2.8,2.5,25,270 a3.1,2.5,3.1,2.5,90,-150|3.1,11.2 3.1,-1.2"},
    {U'%', -1, "0.2,0 6.2,10|a1.4,8.3,1.4,1.7,0,360|a5,1.7,1.4,1.7,0,360"},
    {U'&', -1, "6.4,0 1.6,6.4 a2.9,8.3,1.5,1.7,215,-35 a2.8,2.5,2.8,2.5,125,340 6.6,4.2"},
    {U'\'', -1, "0,10 0,7.2"},
    {U'(', -1, "a4,4,3.4,7.2,118,242"},
    {U')', -1, "a0,4,3.4,7.2,62,-62"},
    {U'*', -1, "2.4,10 2.4,5.2|0.2,8.8 4.6,6.4|0.2,6.4 4.6,8.8"},
    {U'+', -1, "0,3.8 6,3.8|3,0.8 3,6.8"},
    {U',', -1, "0.8,0.6|0.8,0.6 0,-1.9"},
    {U'-', -1, "0,3.8 3.4,3.8"},
    {U'.', -1, "0,0.6"},
    {U'/', -1, "0,-1.5 4.6,10.5"},
    {U'0', 6, "a3,5,3,5,0,360"},
    {U'1', 6, "1.4,7.9 4,10 4,0"},
    {U'2', 6, "a3,7,2.9,3,155,-35 0,0 6,0"},
    {U'3', 6, "a2.9,7.6,2.7,2.4,150,-90 1.8,5.2 3,5.2 a3,2.6,3,2.6,90,-150"},
    {U'4', 6, "4.4,0 4.4,10 0,3 6,3"},
    {U'5', 6, "5.6,10 1,10 0.5,5.4 a3,3.2,3,3.2,137,-145"},
    {U'6', 6, "a3,5,3,5,62,180 0,3.2|a3,3.2,3,3.2,0,360"},
    {U'7', 6, "0,10 6,10 2,0"},
    {U'8', 6, "a3,7.6,2.6,2.4,0,360|a3,2.6,3,2.6,0,360"},
    {U'9', 6, "a3,6.8,3,3.2,0,360|6,6.8 a3,5,3,5,0,-118"},
    {U':', -1, "0,0.6|0,6.4"},
    {U';', -1, "0.8,6.4|0.8,0.6|0.8,0.6 0,-1.9"},
    {U'<', -1, "5.6,7 0,3.8 5.6,0.6"},
    {U'=', -1, "0,5.2 6,5.2|0,2.4 6,2.4"},
    {U'>', -1, "0,7 5.6,3.8 0,0.6"},
    {U'?', -1, "a2.7,7.4,2.7,2.6,155,-60 2.7,3.8 2.7,2.8|2.7,0.6"},
    {U'@', -1, "a4.3,4.2,1.8,2.2,0,360|6.1,6.4 6.1,3 a7.1,3,1,1.2,180,360 "
               "a4.3,4.4,3.9,5.2,-10,290"},
    {U'A', -1, "0,0 3.6,10 7.2,0|1.4,3.4 5.8,3.4"},
    {U'B', -1, "0,0 0,10 3.6,10 a3.6,7.5,2.3,2.5,90,-90 0,5|3.8,5 a3.8,2.5,2.6,2.5,90,-90 0,0"},
    {U'C', -1, "a3.7,5,3.7,5,42,318"},
    {U'D', -1, "0,0 0,10 2.4,10 a2.4,5,4.2,5,90,-90 0,0"},
    {U'E', -1, "5.6,10 0,10 0,0 5.6,0|0,5.1 4.9,5.1"},
    {U'F', -1, "5.6,10 0,10 0,0|0,5.1 4.9,5.1"},
    {U'G', -1, "a3.7,5,3.7,5,42,330 6.9,4.6 4.2,4.6"},
    {U'H', -1, "0,0 0,10|6.4,0 6.4,10|0,5.1 6.4,5.1"},
    {U'I', -1, "0,0 0,10"},
    {U'J', -1, "4.6,10 4.6,3 a2.3,3,2.3,3,0,-165"},
    {U'K', -1, "0,0 0,10|6,10 0,4|2.1,6.1 6.2,0"},
    {U'L', -1, "0,10 0,0 5.4,0"},
    {U'M', -1, "0,0 0,10 4,2.4 8,10 8,0"},
    {U'N', -1, "0,0 0,10 6.4,0 6.4,10"},
    {U'O', -1, "a3.8,5,3.8,5,0,360"},
    {U'P', -1, "0,0 0,10 3.5,10 a3.5,7.3,2.6,2.7,90,-90 0,4.6"},
    {U'Q', -1, "a3.8,5,3.8,5,0,360|4.5,2.4 7.6,-0.8"},
    {U'R', -1, "0,0 0,10 3.5,10 a3.5,7.3,2.6,2.7,90,-90 0,4.6|3.4,4.6 6.3,0"},
    {U'S', -1, "a3.1,7.5,2.8,2.5,25,270 a3.1,2.5,3.1,2.5,90,-150"},
    {U'T', -1, "0,10 6.6,10|3.3,10 3.3,0"},
    {U'U', -1, "0,10 0,3.2 a3.1,3.2,3.1,3.2,180,360 6.2,10"},
    {U'V', -1, "0,10 3.6,0 7.2,10"},
    {U'W', -1, "0,10 2.3,0 4.8,8.2 7.3,0 9.6,10"},
    {U'X', -1, "0,10 6.6,0|0,0 6.6,10"},
    {U'Y', -1, "0,10 3.5,5 7,10|3.5,5 3.5,0"},
    {U'Z', -1, "0.3,10 6.2,10 0,0 6.3,0"},
    {U'[', -1, "2.6,10.5 0,10.5 0,-2.5 2.6,-2.5"},
    {U'\\', -1, "0,10.5 4.6,-1.5"},
    {U']', -1, "0,10.5 2.6,10.5 2.6,-2.5 0,-2.5"},
    {U'^', -1, "0,6.4 2.6,10 5.2,6.4"},
    {U'_', -1, "0,-2.2 6,-2.2"},
    {U'`', -1, "0,10.4 1.4,8.6"},
    {U'a', -1, "a2.7,3.5,2.7,3.5,0,360|5.4,7 5.4,0"},
    {U'b', -1, "0,10 0,0|a2.7,3.5,2.7,3.5,0,360"},
    {U'c', -1, "a2.9,3.5,2.9,3.5,40,320"},
    {U'd', -1, "5.4,10 5.4,0|a2.7,3.5,2.7,3.5,0,360"},
    {U'e', -1, "0,3.5 5.6,3.5 a2.8,3.5,2.8,3.5,0,318"},
    {U'f', -1, "1.4,0 1.4,8 a3.1,8,1.7,2,180,60|0,7 3.4,7"},
    {U'g', -1, "a2.7,3.5,2.7,3.5,0,360|5.4,7 5.4,-0.5 a2.7,-0.5,2.7,2.5,0,-160"},
    {U'h', -1, "0,10 0,0|0,4.4 a2.6,4.4,2.6,2.6,180,0 5.2,0"},
    {U'i', -1, "0,0 0,7|0,9.4"},
    {U'j', -1, "2,7 2,-1.6 a0.8,-1.6,1.2,1.4,0,-160|2,9.4"},
    {U'k', -1, "0,10 0,0|5,7 0,2.5|1.8,4.1 5.2,0"},
    {U'l', -1, "0,10 0,0"},
    {U'm', -1, "0,7 0,0|0,4.6 a2.1,4.6,2.1,2.4,180,0 4.2,0|4.2,4.6 a6.3,4.6,2.1,2.4,180,0 8.4,0"},
    {U'n', -1, "0,7 0,0|0,4.4 a2.6,4.4,2.6,2.6,180,0 5.2,0"},
    {U'o', -1, "a2.8,3.5,2.8,3.5,0,360"},
    {U'p', -1, "0,7 0,-3|a2.7,3.5,2.7,3.5,0,360"},
    {U'q', -1, "5.4,7 5.4,-3|a2.7,3.5,2.7,3.5,0,360"},
    {U'r', -1, "0,7 0,0|0,4.2 a2.6,4.2,2.6,2.8,180,72"},
    {U's', -1, "a2.4,5.25,2.2,1.75,25,270 a2.4,1.75,2.4,1.75,90,-150"},
    {U't', -1, "1.4,9.2 1.4,1.4 a2.9,1.4,1.5,1.4,180,300|0,7 3.6,7"},
    {U'u', -1, "0,7 0,2.6 a2.6,2.6,2.6,2.6,180,360|5.2,7 5.2,0"},
    {U'v', -1, "0,7 2.8,0 5.6,7"},
    {U'w', -1, "0,7 2,0 4,5.6 6,0 8,7"},
    {U'x', -1, "0,7 5.4,0|0,0 5.4,7"},
    {U'y', -1, "0,7 2.94,0|5.6,7 1.8,-3"},
    {U'z', -1, "0,7 5,7 0,0 5,0"},
    {U'{', -1, "3,10.5 2.1,10.1 1.6,9 1.6,5.4 0,4 1.6,2.6 1.6,-1 2.1,-2.1 3,-2.5"},
    {U'|', -1, "0,10.5 0,-2.5"},
    {U'}', -1, "0,10.5 0.9,10.1 1.4,9 1.4,5.4 3,4 1.4,2.6 1.4,-1 0.9,-2.1 0,-2.5"},
    {U'~', -1, "a1.5,3.4,1.5,1.1,180,0 a4.5,3.4,1.5,1.1,180,360"},
    // Latin-1 and math symbols.
    {U'\u00B0', -1, "a1.3,8.7,1.3,1.3,0,360"},                          // °
    {U'\u00B1', -1, "0,5.4 6,5.4|3,2.6 3,8.2|0,0.6 6,0.6"},             // ±
    {U'\u00B7', -1, "0,3.9"},                                           // ·
    {U'\u00D7', -1, "0.4,1.4 4.8,5.8|0.4,5.8 4.8,1.4"},                 // ×
    {U'\u2013', -1, "0,3.8 6,3.8"},                                     // –
    {U'\u2014', -1, "0,3.8 10,3.8"},                                    // —
    {U'\u2016', -1, "0,10.5 0,-2.5|2.8,10.5 2.8,-2.5"},                  // ‖
    {U'\u2026', -1, "0,0.6|2.6,0.6|5.2,0.6"},                           // …
    {U'\u2113', -1, "0,2.6 2.2,6.4 3.2,8.6 3,9.8 2.3,10 1.6,9.4 1.2,7.6 1.1,4 1.2,1.6 "
                    "1.7,0.3 2.6,0 3.6,0.6"},                             // ℓ
    {U'\u2192', -1, "0,3.8 7.5,3.8|5,6.2 7.5,3.8 5,1.4"},               // →
    {U'\u2212', -1, "0,3.8 6,3.8"},                                     // −
    {U'\u221E', -1, "a2,3.8,2,1.9,0,360|a6,3.8,2,1.9,0,360"},           // ∞
    {U'\u2248', -1, "a1.5,4.8,1.5,1,180,0 a4.5,4.8,1.5,1,180,360|"
                    "a1.5,2.4,1.5,1,180,0 a4.5,2.4,1.5,1,180,360"},     // ≈
    {U'\u2264', -1, "5.6,8.2 0,5.4 5.6,2.6|0,0.6 5.6,0.6"},             // ≤
    {U'\u2265', -1, "0,8.2 5.6,5.4 0,2.6|0,0.6 5.6,0.6"},               // ≥
    // Greek.
    {U'\u0394', -1, "0,0 3.7,10 7.4,0 0,0"},                                           // Δ
    {U'\u03A3', -1, "6,10 0,10 3.3,5 0,0 6.2,0"},                                      // Σ
    {U'\u03B1', -1, "a2.6,3.5,2.6,3.5,0,360|5.9,7 5,3.5 5.9,0"},                       // α
    {U'\u03B2', -1, "0,-3 0,7.8 a2.3,7.8,2.3,2.2,180,-90 1.4,5.6|"
                    "1.4,5.6 2.4,5.6 a2.4,2.8,2.9,2.8,90,-90 0,1"},                    // β
    {U'\u03B3', -1, "0,7 2.8,-0.4 2.8,-3|5.6,7 2.8,-0.4"},                             // γ
    {U'\u03B4', -1, "a2.7,3.1,2.7,3.1,0,360|3,6.1 1.1,8.2 1.4,9.6 2.7,10 4.8,9.5"},    // δ
    {U'\u03B5', -1, "a3,5.3,2.5,1.7,40,270 a3,1.8,2.9,1.8,90,320"},                   // ε
    {U'\u03B7', -1, "0,7 0,0|0,4.4 a2.6,4.4,2.6,2.6,180,0 5.2,-3"},                    // η
    {U'\u03B8', -1, "a2.8,5,2.8,5,0,360|0,5 5.6,5"},                                   // θ
    {U'\u03BB', -1, "0.6,10 5.8,0|3.2,5 0,0"},                                         // λ
    {U'\u03BC', -1, "0,7 0,-3|0,2.6 a2.6,2.6,2.6,2.6,180,360|5.2,7 5.2,0"},            // μ
    {U'\u03C0', -1, "0,7 6.2,7|1.6,7 1.6,0|4.6,7 4.6,0"},                              // π
    {U'\u03C1', -1, "0,-3 0,3.5|a2.7,3.5,2.7,3.5,0,360"},                              // ρ
    {U'\u03C3', -1, "a2.7,3.4,2.7,3.4,0,360|2.7,6.8 6.4,6.8"},                         // σ
    {U'\u03C4', -1, "0,7 5.4,7|2.6,7 2.6,1.3 a3.8,1.3,1.2,1.3,180,300"},               // τ
    {U'\u03C6', -1, "a3.2,3.5,3.2,3.5,0,360|3.2,10 3.2,-3"},                           // φ
    {U'\u03C9', -1, "1.6,7 0.2,4.2 0.2,2 1,0.4 2.2,0 3.4,0.8 3.8,3.4|"
                    "3.8,3.4 4.2,0.8 5.4,0 6.6,0.4 7.4,2 7.4,4.2 6,7"},               // ω
    // Drawn for code points the font lacks.
    {U'\uFFFD', -1, "0,0 0,10 5.4,10 5.4,0 0,0"},
};
// clang-format on

// Superscripts and subscripts reuse the ordinary glyphs, shrunk and shifted,
// so that "10⁻³" reads as a power of ten and "ℓ₁" as a norm.
struct Shifted {
  char32_t code, base;
  double raise;
};
constexpr double kSuper = 4.3;  // tops at 10.5, the ascender line
constexpr double kSub = -1.6;
const Shifted kShifted[] = {
    {U'\u2070', U'0', kSuper}, {U'\u00B9', U'1', kSuper}, {U'\u00B2', U'2', kSuper},
    {U'\u00B3', U'3', kSuper}, {U'\u2074', U'4', kSuper}, {U'\u2075', U'5', kSuper},
    {U'\u2076', U'6', kSuper}, {U'\u2077', U'7', kSuper}, {U'\u2078', U'8', kSuper},
    {U'\u2079', U'9', kSuper}, {U'\u207A', U'+', kSuper}, {U'\u207B', U'\u2212', kSuper},
    {U'\u2080', U'0', kSub},   {U'\u2081', U'1', kSub},   {U'\u2082', U'2', kSub},
    {U'\u2083', U'3', kSub},   {U'\u2084', U'4', kSub},   {U'\u2085', U'5', kSub},
    {U'\u2086', U'6', kSub},   {U'\u2087', U'7', kSub},   {U'\u2088', U'8', kSub},
    {U'\u2089', U'9', kSub},
};
constexpr double kShiftScale = 0.62;

void append_arc(std::vector<Point>& out, double cx, double cy, double rx, double ry, double from,
                double to) {
  const double kPi = 3.14159265358979323846;
  const int n = std::max(6, static_cast<int>(std::ceil(std::abs(to - from) / 9.0)));
  for (int i = 0; i <= n; ++i) {
    const double a = (from + (to - from) * i / n) * kPi / 180.0;
    out.push_back({cx + rx * std::cos(a), cy + ry * std::sin(a)});
  }
}

std::vector<double> parse_numbers(const std::string& item) {
  std::vector<double> values;
  std::stringstream ss(item);
  std::string part;
  while (std::getline(ss, part, ',')) values.push_back(std::stod(part));
  return values;
}

Glyph build(const GlyphSource& src) {
  Glyph g;
  std::stringstream strokes(src.strokes);
  std::string stroke_text;
  while (std::getline(strokes, stroke_text, '|')) {
    std::vector<Point> stroke;
    std::stringstream items(stroke_text);
    std::string item;
    while (items >> item) {
      if (item[0] == 'a') {
        const auto v = parse_numbers(item.substr(1));
        if (v.size() != 6) throw std::logic_error("font: bad arc in glyph source");
        append_arc(stroke, v[0], v[1], v[2], v[3], v[4], v[5]);
      } else {
        const auto v = parse_numbers(item);
        if (v.size() != 2) throw std::logic_error("font: bad point in glyph source");
        stroke.push_back({v[0], v[1]});
      }
    }
    if (!stroke.empty()) g.strokes.push_back(std::move(stroke));
  }
  if (src.width >= 0) {
    g.width = src.width;
    g.advance = src.width + kSpacing;
    return g;
  }
  // Measured glyphs: shift the ink to start at x = 0.
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : g.strokes)
    for (const auto& p : s) lo = std::min(lo, p.x), hi = std::max(hi, p.x);
  if (g.strokes.empty()) lo = hi = 0;
  for (auto& s : g.strokes)
    for (auto& p : s) p.x -= lo;
  g.width = hi - lo;
  g.advance = g.width + kSpacing;
  return g;
}

struct Table {
  std::unordered_map<char32_t, Glyph> glyphs;
  Table() {
    for (const auto& src : kGlyphs) glyphs.emplace(src.code, build(src));
    for (const auto& sh : kShifted) {
      Glyph g = glyphs.at(sh.base);
      for (auto& s : g.strokes)
        for (auto& p : s) p = {p.x * kShiftScale, p.y * kShiftScale + sh.raise};
      g.width *= kShiftScale;
      g.advance = g.width + kSpacing * 0.6;
      glyphs.emplace(sh.code, std::move(g));
    }
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

const Glyph& glyph(char32_t code) {
  const auto& glyphs = table().glyphs;
  auto it = glyphs.find(code);
  if (it == glyphs.end()) it = glyphs.find(U'\uFFFD');
  return it->second;
}

std::u32string decode_utf8(const std::string& text) {
  std::u32string out;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    int extra = 0;
    char32_t code = 0;
    if (c < 0x80) {
      code = c;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, code = c & 0x07;
    } else {
      out.push_back(U'\uFFFD');
      ++i;
      continue;
    }
    bool ok = i + extra < n;
    for (int k = 1; ok && k <= extra; ++k) {
      if ((s[i + k] & 0xc0) != 0x80)
        ok = false;
      else
        code = (code << 6) | (s[i + k] & 0x3f);
    }
    if (!ok) {
      out.push_back(U'\uFFFD');
      ++i;
      continue;
    }
    out.push_back(code);
    i += extra + 1;
  }
  return out;
}

double run_width(const std::u32string& text) {
  if (text.empty()) return 0;
  double w = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) w += glyph(text[i]).advance;
  return w + glyph(text.back()).width;
}

double stroke_width(double size, bool bold) {
  // Thin strokes look grey once anti-aliased; 1.15 px keeps small text black.
  return std::max(bold ? 1.5 : 1.15, size * (bold ? 0.115 : 0.08));
}

}  // namespace sparseloop::font
