#include "truetype.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>

#define STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#include <stb/stb_truetype.h>

namespace sparseloop::truetype {

struct Face {
  std::string bytes;  // the font file; stbtt_fontinfo points into it
  stbtt_fontinfo info{};
  double scale = 0;   // em units per font unit
  double ascent = 0, descent = 0, cap = 0;
  int x_top = 0;  // font units: the top of 'x'
};

namespace {

std::unique_ptr<Face> load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return nullptr;
  auto f = std::make_unique<Face>();
  f->bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  const auto* data = reinterpret_cast<const unsigned char*>(f->bytes.data());
  const int offset = stbtt_GetFontOffsetForIndex(data, 0);
  if (offset < 0 || !stbtt_InitFont(&f->info, data, offset)) return nullptr;
  f->scale = stbtt_ScaleForMappingEmToPixels(&f->info, 1.0f);  // em per font unit
  // Ascent and descent of the ink labels usually have (brackets, ascenders,
  // descenders), not the font's line metrics, which add room for accented
  // capitals: text aligned to its top then touches the anchor, as with the
  // stroke font.
  int x0, y0, x1, y1;
  int top = 0, bottom = 0;
  for (char c : std::string("()[]{}|Hbdfhklgjpqy"))
    if (stbtt_GetCodepointBox(&f->info, c, &x0, &y0, &x1, &y1)) {
      top = std::max(top, y1);
      bottom = std::min(bottom, y0);
    }
  f->ascent = top * f->scale;
  f->descent = -bottom * f->scale;
  f->cap = stbtt_GetCodepointBox(&f->info, 'H', &x0, &y0, &x1, &y1) ? y1 * f->scale : 0.7;
  f->x_top = stbtt_GetCodepointBox(&f->info, 'x', &x0, &y0, &x1, &y1) ? y1 : 0;
  return f;
}

const Face* find(bool bold) {
  const char* env = std::getenv("SPARSELOOP_FONT");
  const std::string chosen = env ? env : "";
  if (chosen == "none") return nullptr;
  static std::mutex m;
  static std::unique_ptr<Face> faces[2];
  static bool tried[2] = {false, false};
  std::lock_guard<std::mutex> lock(m);
  const int i = bold ? 1 : 0;
  if (!tried[i]) {
    tried[i] = true;
    const std::string dir = "/usr/share/fonts/truetype/dejavu/";
    std::vector<std::string> paths;
    if (!chosen.empty()) paths.push_back(chosen);
    if (bold) paths.push_back(dir + "DejaVuSans-Bold.ttf");
    paths.push_back(dir + "DejaVuSans.ttf");
    for (const auto& p : paths)
      if ((faces[i] = load(p))) break;
  }
  return faces[i].get();
}

/// Appends the quadratic Bézier a → (control c) → b as segments.
void quadratic(std::vector<Point>& out, Point a, Point c, Point b, double flatness) {
  // The curve deviates from its chord by at most a quarter of |a − 2c + b|.
  const double dev = std::hypot(a.x - 2 * c.x + b.x, a.y - 2 * c.y + b.y) / 4;
  const int n = std::clamp(static_cast<int>(std::ceil(std::sqrt(dev / flatness))), 1, 32);
  for (int k = 1; k <= n; ++k) {
    const double t = static_cast<double>(k) / n, u = 1 - t;
    out.push_back({u * u * a.x + 2 * u * t * c.x + t * t * b.x,
                   u * u * a.y + 2 * u * t * c.y + t * t * b.y});
  }
}

void cubic(std::vector<Point>& out, Point a, Point c1, Point c2, Point b, double flatness) {
  const double dev = std::max(std::hypot(a.x - 2 * c1.x + c2.x, a.y - 2 * c1.y + c2.y),
                              std::hypot(c1.x - 2 * c2.x + b.x, c1.y - 2 * c2.y + b.y)) * 0.75;
  const int n = std::clamp(static_cast<int>(std::ceil(std::sqrt(dev / flatness))), 1, 32);
  for (int k = 1; k <= n; ++k) {
    const double t = static_cast<double>(k) / n, u = 1 - t;
    out.push_back({u * u * u * a.x + 3 * u * u * t * c1.x + 3 * u * t * t * c2.x + t * t * t * b.x,
                   u * u * u * a.y + 3 * u * u * t * c1.y + 3 * u * t * t * c2.y + t * t * t * b.y});
  }
}

}  // namespace

const Face* face(bool bold) { return find(bold); }

bool covers(const Face& f, const std::u32string& text) {
  for (char32_t c : text)
    if (c != U' ' && stbtt_FindGlyphIndex(&f.info, static_cast<int>(c)) == 0) return false;
  return true;
}

double ascent(const Face& f) { return f.ascent; }
double descent(const Face& f) { return f.descent; }
double cap_height(const Face& f) { return f.cap; }

Layout layout(const Face& f, const std::u32string& text, double flatness_em) {
  Layout out;
  const double s = f.scale;
  const double flat = std::max(flatness_em, 1e-4) / s;  // in font units
  double pen = 0;          // font units
  double ink0 = 1e300, ink1 = -1e300;
  std::vector<std::vector<Point>> contours;  // font units, y up
  // The last base glyph's box (font units, placed), for combining marks.
  double base_cx = 0, base_top = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int g = stbtt_FindGlyphIndex(&f.info, static_cast<int>(text[i]));
    int advance = 0, lsb = 0;
    stbtt_GetGlyphHMetrics(&f.info, g, &advance, &lsb);
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    const bool inked = stbtt_GetGlyphBox(&f.info, g, &x0, &y0, &x1, &y1) && x1 > x0;
    // A combining mark (U+0300–U+036F) sits where the font puts it over a
    // lowercase letter; without the font's positioning tables (GPOS, which
    // stb_truetype does not read) it is centred over the base glyph and
    // raised by as much as the base stands above the x-height (Ẑ, X̂).
    double mx = pen, my = 0;
    const bool mark = text[i] >= 0x300 && text[i] <= 0x36F && i > 0;
    if (mark && inked) {
      mx = base_cx - (x0 + x1) / 2.0;
      my = std::max(0.0, base_top - f.x_top);
    } else if (inked) {
      base_cx = pen + (x0 + x1) / 2.0;
      base_top = y1;
    }
    if (inked) {
      ink0 = std::min(ink0, mx + x0);
      ink1 = std::max(ink1, mx + x1);
    }
    stbtt_vertex* v = nullptr;
    const int n = stbtt_GetGlyphShape(&f.info, g, &v);
    Point last{0, 0};
    for (int k = 0; k < n; ++k) {
      const Point p{mx + v[k].x, my + v[k].y};
      switch (v[k].type) {
        case STBTT_vmove:
          contours.push_back({p});
          break;
        case STBTT_vline:
          contours.back().push_back(p);
          break;
        case STBTT_vcurve:
          quadratic(contours.back(), last, {mx + v[k].cx, my + v[k].cy}, p, flat);
          break;
        case STBTT_vcubic:
          cubic(contours.back(), last, {mx + v[k].cx, my + v[k].cy},
                {mx + v[k].cx1, my + v[k].cy1}, p, flat);
          break;
      }
      last = p;
    }
    stbtt_FreeShape(&f.info, v);
    if (!mark) pen += advance;
    if (i + 1 < text.size())
      pen += stbtt_GetGlyphKernAdvance(&f.info, g, stbtt_FindGlyphIndex(&f.info, static_cast<int>(text[i + 1])));
  }
  if (ink1 < ink0) return out;  // spaces only
  for (auto& c : contours) {
    for (auto& p : c) p = {(p.x - ink0) * s, p.y * s};
    out.contours.push_back(std::move(c));
  }
  out.width = (ink1 - ink0) * s;
  return out;
}

}  // namespace sparseloop::truetype
