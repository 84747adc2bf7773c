#include "sparseloop/plot/canvas.h"

#include <algorithm>
#include <cmath>

#include "font.h"
#include "truetype.h"
#include "sparseloop/io/png.h"
#include "sparseloop/plot/base64.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {

// Coverage of a rectangle of pixels, accumulated with max() so that a
// stroke made of many pieces (segments, glyph strokes) is blended once.
class Canvas::Mask {
 public:
  Mask(int x0, int y0, int x1, int y1)
      : x0_(x0),
        y0_(y0),
        x1_(std::max(x0, x1)),
        y1_(std::max(y0, y1)),
        cov_(static_cast<size_t>(x1_ - x0_) * static_cast<size_t>(y1_ - y0_), 0.f) {}

  bool empty() const { return x1_ <= x0_ || y1_ <= y0_; }
  int x0() const { return x0_; }
  int y0() const { return y0_; }
  int x1() const { return x1_; }
  int y1() const { return y1_; }
  float at(int x, int y) const {
    return cov_[static_cast<size_t>(y - y0_) * static_cast<size_t>(x1_ - x0_) + (x - x0_)];
  }
  void put(int x, int y, double c) {
    float& v = cov_[static_cast<size_t>(y - y0_) * static_cast<size_t>(x1_ - x0_) + (x - x0_)];
    v = std::max(v, static_cast<float>(c));
  }

  // A segment with round caps of total width `width`. Widths under a pixel
  // are drawn as a 1-px tent scaled by the width, so thin lines fade instead
  // of vanishing or aliasing, and the ink per unit length equals the width.
  void capsule(Point a, Point b, double width) {
    const double r = width / 2;
    const double reach = std::max(r, 0.5) + 1.0;
    const int xa = lo_x(std::min(a.x, b.x) - reach), xb = hi_x(std::max(a.x, b.x) + reach);
    const int ya = lo_y(std::min(a.y, b.y) - reach), yb = hi_y(std::max(a.y, b.y) + reach);
    const double dx = b.x - a.x, dy = b.y - a.y;
    const double len2 = dx * dx + dy * dy;
    for (int y = ya; y < yb; ++y) {
      for (int x = xa; x < xb; ++x) {
        const double px = x + 0.5 - a.x, py = y + 0.5 - a.y;
        double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0.0;
        t = std::clamp(t, 0.0, 1.0);
        const double ex = px - t * dx, ey = py - t * dy;
        const double d = std::sqrt(ex * ex + ey * ey);
        const double c = width >= 1.0 ? std::clamp(r + 0.5 - d, 0.0, 1.0)
                                      : width * std::clamp(1.0 - d, 0.0, 1.0);
        if (c > 0) put(x, y, c);
      }
    }
  }

  void disk(Point c, double radius) { capsule(c, c, 2 * radius); }

  void ring(Point c, double radius, double width) {
    const double reach = radius + width / 2 + 1.0;
    const int xa = lo_x(c.x - reach), xb = hi_x(c.x + reach);
    const int ya = lo_y(c.y - reach), yb = hi_y(c.y + reach);
    for (int y = ya; y < yb; ++y)
      for (int x = xa; x < xb; ++x) {
        const double d = std::hypot(x + 0.5 - c.x, y + 0.5 - c.y);
        const double v = std::clamp(width / 2 + 0.5 - std::abs(d - radius), 0.0, 1.0);
        if (v > 0) put(x, y, v);
      }
  }

  // Signed distance to a convex polygon approximated by the largest
  // distance to its edge lines: exact along edges, which is all that the
  // one-pixel anti-aliasing ramp needs.
  // The union of closed contours under the non-zero winding rule (TrueType
  // outlines), anti-aliased: coverage is exact along x (each span's ends
  // contribute their fraction of a pixel) and sampled on kSub sub-rows in y.
  void fill_nonzero(const std::vector<std::vector<Point>>& contours) {
    constexpr int kSub = 5;
    struct Edge {
      double x0, y0, x1, y1;
      int dir;
    };
    std::vector<Edge> edges;
    double ly = 1e300, hy = -1e300;
    for (const auto& c : contours)
      for (size_t i = 0; i < c.size(); ++i) {
        const Point& p = c[i];
        const Point& q = c[(i + 1) % c.size()];
        if (p.y == q.y || !std::isfinite(p.x + p.y + q.x + q.y)) continue;
        edges.push_back(p.y < q.y ? Edge{p.x, p.y, q.x, q.y, 1} : Edge{q.x, q.y, p.x, p.y, -1});
        ly = std::min(ly, std::min(p.y, q.y)), hy = std::max(hy, std::max(p.y, q.y));
      }
    if (edges.empty()) return;
    const int ya = lo_y(ly), yb = hi_y(hy);
    std::vector<double> row(static_cast<size_t>(x1_ - x0_) + 1);
    std::vector<std::pair<double, int>> cross;
    for (int y = ya; y < yb; ++y) {
      std::fill(row.begin(), row.end(), 0.0);
      bool any = false;
      for (int s = 0; s < kSub; ++s) {
        const double sy = y + (s + 0.5) / kSub;
        cross.clear();
        for (const auto& e : edges)
          if (e.y0 <= sy && sy < e.y1)
            cross.push_back({e.x0 + (sy - e.y0) * (e.x1 - e.x0) / (e.y1 - e.y0), e.dir});
        std::sort(cross.begin(), cross.end());
        int winding = 0;
        for (size_t i = 0; i + 1 < cross.size(); ++i) {
          winding += cross[i].second;
          if (winding == 0) continue;
          // Span [a, b) inside: add 1/kSub of each pixel's covered fraction.
          const double a = std::clamp(cross[i].first, double(x0_), double(x1_));
          const double b = std::clamp(cross[i + 1].first, double(x0_), double(x1_));
          if (b <= a) continue;
          any = true;
          const int ia = static_cast<int>(std::floor(a)), ib = static_cast<int>(std::floor(b));
          if (ia == ib) {
            row[ia - x0_] += (b - a) / kSub;
            continue;
          }
          row[ia - x0_] += (ia + 1 - a) / kSub;
          for (int x = ia + 1; x < ib; ++x) row[x - x0_] += 1.0 / kSub;
          if (ib < x1_) row[ib - x0_] += (b - ib) / kSub;
        }
      }
      if (!any) continue;
      for (int x = x0_; x < x1_; ++x)
        if (row[x - x0_] > 0) put(x, y, std::min(row[x - x0_], 1.0));
    }
  }

  void convex(const std::vector<Point>& v) {
    if (v.size() < 3) return;
    double area = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const Point& p = v[i];
      const Point& q = v[(i + 1) % v.size()];
      area += p.x * q.y - q.x * p.y;
    }
    const double orient = area >= 0 ? 1.0 : -1.0;
    double lx = v[0].x, hx = v[0].x, ly = v[0].y, hy = v[0].y;
    for (const auto& p : v) {
      lx = std::min(lx, p.x), hx = std::max(hx, p.x);
      ly = std::min(ly, p.y), hy = std::max(hy, p.y);
    }
    const int xa = lo_x(lx - 1), xb = hi_x(hx + 1);
    const int ya = lo_y(ly - 1), yb = hi_y(hy + 1);
    for (int y = ya; y < yb; ++y)
      for (int x = xa; x < xb; ++x) {
        double sd = -1e300;
        for (size_t i = 0; i < v.size(); ++i) {
          const Point& p = v[i];
          const Point& q = v[(i + 1) % v.size()];
          const double ex = q.x - p.x, ey = q.y - p.y;
          const double len = std::hypot(ex, ey);
          if (len == 0) continue;
          // Outward normal for a counter-clockwise (in math orientation) polygon.
          const double nx = ey / len * orient, ny = -ex / len * orient;
          sd = std::max(sd, (x + 0.5 - p.x) * nx + (y + 0.5 - p.y) * ny);
        }
        const double c = std::clamp(0.5 - sd, 0.0, 1.0);
        if (c > 0) put(x, y, c);
      }
  }

 private:
  // Pixel ranges of geometry, clamped to the mask before converting to int.
  int lo_x(double v) const { return static_cast<int>(std::clamp<double>(std::floor(v), x0_, x1_)); }
  int hi_x(double v) const { return static_cast<int>(std::clamp<double>(std::ceil(v), x0_, x1_)); }
  int lo_y(double v) const { return static_cast<int>(std::clamp<double>(std::floor(v), y0_, y1_)); }
  int hi_y(double v) const { return static_cast<int>(std::clamp<double>(std::ceil(v), y0_, y1_)); }

  int x0_, y0_, x1_, y1_;
  std::vector<float> cov_;
};

namespace {

constexpr double kPi = 3.14159265358979323846;

// Splits a polyline into the "on" pieces of a dash pattern. Dashes get round
// caps of radius w/2, so each drawn piece is shortened by w to make the
// visible dash `on` pixels long; on ≤ w gives dots.
std::vector<std::vector<Point>> dash_pieces(const std::vector<Point>& pts,
                                            const std::vector<double>& pattern, double w) {
  std::vector<std::vector<Point>> pieces;
  double total = 0;
  for (double v : pattern) total += std::max(v, 0.0);
  if (pattern.size() < 2 || total <= 0) return {pts};
  std::vector<double> lengths;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const double v = std::max(pattern[i], 0.0);
    lengths.push_back(i % 2 == 0 ? std::max(v - w, 0.0) : v + std::min(w, pattern[i - 1]));
  }
  size_t k = 0;
  double left = lengths[0];
  bool on = true;
  std::vector<Point> current = {pts[0]};
  for (size_t i = 0; i + 1 < pts.size(); ++i) {
    Point a = pts[i];
    const Point b = pts[i + 1];
    double seg = std::hypot(b.x - a.x, b.y - a.y);
    while (seg > left) {
      const double t = left / seg;
      const Point m{a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t};
      if (on) {
        current.push_back(m);
        pieces.push_back(std::move(current));
        current.clear();
      } else {
        current = {m};
      }
      seg -= left;
      a = m;
      on = !on;
      k = (k + 1) % lengths.size();
      left = lengths[k];
      // Guard against an all-zero pattern stalling the walk.
      if (left <= 0 && on) left = 1e-9;
    }
    left -= seg;
    if (on) current.push_back(b);
  }
  if (on && !current.empty()) pieces.push_back(std::move(current));
  return pieces;
}

uint8_t blend_channel(uint8_t dst, uint8_t src, double a) {
  return static_cast<uint8_t>(std::lround(dst + (static_cast<double>(src) - dst) * a));
}

}  // namespace

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string t = buf;
  while (t.back() == '0') t.pop_back();  // 12.50 → 12.5, 3.00 → 3
  if (t.back() == '.') t.pop_back();
  return t == "-0" ? "0" : t;
}

std::string hex(Color c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

std::string xml_escape(const std::string& t) {
  std::string o;
  for (char ch : t) {
    if (ch == '&') o += "&amp;";
    else if (ch == '<') o += "&lt;";
    else if (ch == '>') o += "&gt;";
    else if (ch == '"') o += "&quot;";
    else o += ch;
  }
  return o;
}

std::string stroke_attrs(const Stroke& s) {
  std::string a = " fill=\"none\" stroke=\"" + hex(s.color) + "\" stroke-width=\"" + num(s.width) +
                  "\" stroke-linecap=\"round\" stroke-linejoin=\"round\"";
  if (!s.dash.empty()) {
    a += " stroke-dasharray=\"";
    for (size_t i = 0; i < s.dash.size(); ++i) a += (i ? " " : "") + num(s.dash[i]);
    a += "\"";
  }
  return a;
}

std::string points_attr(const std::vector<Point>& pts) {
  std::string a;
  for (const auto& p : pts) a += (a.empty() ? "" : " ") + num(p.x) + "," + num(p.y);
  return a;
}

}  // namespace

/// Marks one public drawing call: `outer` is true for the call the user
/// made (which records its SVG element), false for the primitives it draws
/// through. A pending run of pixels is flushed first, so z-order is kept.
struct SvgRecording {
  Canvas& c;
  bool outer;
  explicit SvgRecording(Canvas& canvas) : c(canvas), outer(canvas.svg_depth_ == 0) {
    if (outer) c.svg_flush_pixels();
    ++c.svg_depth_;
  }
  ~SvgRecording() { --c.svg_depth_; }
  void add(const std::string& element) {
    if (outer) c.svg_body_ += element + "\n";
  }
};

void Canvas::svg_flush_pixels() {
  if (pix_x1_ < pix_x0_) return;
  // The region as it is now: the pixels set, over what was drawn before them.
  const auto crop = to_tensor().narrow(1, pix_y0_, pix_y1_ - pix_y0_ + 1)
                        .narrow(2, pix_x0_, pix_x1_ - pix_x0_ + 1)
                        .clone();  // (3, h, w)
  pix_x1_ = pix_x0_ - 1;
  svg_add_image(pix_x0_, pix_y0_, static_cast<double>(crop.size(2)),
                static_cast<double>(crop.size(1)), crop);
}

void Canvas::svg_add_image(double x, double y, double w, double h, torch::Tensor image) {
  svg_body_ += "<image x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) +
               "\" height=\"" + num(h) +
               "\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"\x01" +
               std::to_string(svg_images_.size()) + "\x01\"/>\n";
  svg_images_.push_back(std::move(image));
}

std::string Canvas::svg() const {
  Canvas copy = *this;  // flushing a pending pixel run changes the log
  copy.svg_flush_pixels();
  std::string body;
  body.reserve(copy.svg_body_.size());
  for (size_t i = 0; i < copy.svg_body_.size(); ++i) {
    if (copy.svg_body_[i] != '\x01') {
      body += copy.svg_body_[i];
      continue;
    }
    const size_t end = copy.svg_body_.find('\x01', i + 1);
    const auto k = static_cast<size_t>(std::stoul(copy.svg_body_.substr(i + 1, end - i - 1)));
    body += "data:image/png;base64," + base64_encode(sparseloop::encode_png(copy.svg_images_[k]));
    i = end;
  }
  if (copy.svg_clip_open_) body += "</g>\n";
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" +
         std::to_string(width_) + "\" height=\"" + std::to_string(height_) + "\" viewBox=\"0 0 " +
         std::to_string(width_) + " " + std::to_string(height_) +
         "\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"" +
         hex(background_) + "\"/>\n" + body + "</svg>\n";
}

void Canvas::write_svg(const std::string& path) const { write_file_atomic(path, svg()); }

Canvas::Canvas(int width, int height, Color background)
    : width_(width), height_(height), background_(background) {
  TORCH_CHECK(width >= 1 && height >= 1 && width <= 16384 && height <= 16384,
              "Canvas size must be in [1, 16384], got ", width, "x", height);
  rgb_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = background.r;
    rgb_[i + 1] = background.g;
    rgb_[i + 2] = background.b;
  }
  reset_clip();
}

Color Canvas::pixel(int x, int y) const {
  TORCH_CHECK(x >= 0 && y >= 0 && x < width_ && y < height_, "Canvas::pixel(", x, ", ", y,
              ") outside ", width_, "x", height_);
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  return Color(rgb_[i], rgb_[i + 1], rgb_[i + 2]);
}

void Canvas::set_pixel(int x, int y, Color c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  if (svg_depth_ == 0) {  // set from outside: part of a raster run for the SVG
    if (pix_x1_ < pix_x0_) {
      pix_x0_ = pix_x1_ = x;
      pix_y0_ = pix_y1_ = y;
    } else {
      pix_x0_ = std::min(pix_x0_, x), pix_x1_ = std::max(pix_x1_, x);
      pix_y0_ = std::min(pix_y0_, y), pix_y1_ = std::max(pix_y1_, y);
    }
  }
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  rgb_[i] = c.r;
  rgb_[i + 1] = c.g;
  rgb_[i + 2] = c.b;
}

void Canvas::blend_pixel(int x, int y, Color c, double alpha) {
  if (x < clip_x0_ || y < clip_y0_ || x >= clip_x1_ || y >= clip_y1_ || !(alpha > 0)) return;
  if (svg_depth_ == 0) {
    SvgRecording r(*this);
    r.add("<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"1\" height=\"1\" fill=\"" +
          hex(c) + "\" fill-opacity=\"" + num(std::min(alpha, 1.0)) + "\"/>");
  }
  alpha = std::min(alpha, 1.0);
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  rgb_[i] = blend_channel(rgb_[i], c.r, alpha);
  rgb_[i + 1] = blend_channel(rgb_[i + 1], c.g, alpha);
  rgb_[i + 2] = blend_channel(rgb_[i + 2], c.b, alpha);
}

void Canvas::set_clip(int x0, int y0, int x1, int y1) {
  clip_x0_ = std::clamp(std::min(x0, x1), 0, width_);
  clip_x1_ = std::clamp(std::max(x0, x1), 0, width_);
  clip_y0_ = std::clamp(std::min(y0, y1), 0, height_);
  clip_y1_ = std::clamp(std::max(y0, y1), 0, height_);
  if (svg_depth_ != 0) return;
  svg_flush_pixels();
  if (svg_clip_open_) svg_body_ += "</g>\n";
  svg_clip_open_ = !(clip_x0_ == 0 && clip_y0_ == 0 && clip_x1_ == width_ && clip_y1_ == height_);
  if (!svg_clip_open_) return;
  const std::string id = "clip" + std::to_string(svg_clips_++);
  svg_body_ += "<clipPath id=\"" + id + "\"><rect x=\"" + num(clip_x0_) + "\" y=\"" + num(clip_y0_) +
               "\" width=\"" + num(clip_x1_ - clip_x0_) + "\" height=\"" + num(clip_y1_ - clip_y0_) +
               "\"/></clipPath>\n<g clip-path=\"url(#" + id + ")\">\n";
}

void Canvas::reset_clip() { set_clip(0, 0, width_, height_); }

Canvas::Mask Canvas::mask_for(double x0, double y0, double x1, double y1) const {
  // Clamp in floating point first: far off-canvas geometry must not overflow int.
  auto cut = [](double v, int lo, int hi) {
    return static_cast<int>(std::clamp<double>(v, lo, hi));
  };
  if (!(x1 >= x0) || !(y1 >= y0)) return Mask(0, 0, 0, 0);
  return Mask(cut(std::floor(x0), clip_x0_, clip_x1_), cut(std::floor(y0), clip_y0_, clip_y1_),
              cut(std::ceil(x1), clip_x0_, clip_x1_), cut(std::ceil(y1), clip_y0_, clip_y1_));
}

void Canvas::blend_mask(const Mask& mask, Color c) {
  for (int y = mask.y0(); y < mask.y1(); ++y)
    for (int x = mask.x0(); x < mask.x1(); ++x) {
      const float a = mask.at(x, y);
      if (a > 0) blend_pixel(x, y, c, a);
    }
}

void Canvas::fill_rect(double x0, double y0, double x1, double y1, Color c, double alpha) {
  SvgRecording rec(*this);
  if (x1 > x0 && y1 > y0)
    rec.add("<rect x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(x1 - x0) +
            "\" height=\"" + num(y1 - y0) + "\" fill=\"" + hex(c) + "\"" +
            (alpha < 1 ? " fill-opacity=\"" + num(std::max(alpha, 0.0)) + "\"" : "") + "/>");

  if (x1 < x0) std::swap(x0, x1);
  if (y1 < y0) std::swap(y0, y1);
  if (!std::isfinite(x0 + x1 + y0 + y1)) return;
  const int xa = static_cast<int>(std::clamp<double>(std::floor(x0), clip_x0_, clip_x1_));
  const int xb = static_cast<int>(std::clamp<double>(std::ceil(x1), clip_x0_, clip_x1_));
  const int ya = static_cast<int>(std::clamp<double>(std::floor(y0), clip_y0_, clip_y1_));
  const int yb = static_cast<int>(std::clamp<double>(std::ceil(y1), clip_y0_, clip_y1_));
  for (int y = ya; y < yb; ++y) {
    const double cy = std::min<double>(y + 1, y1) - std::max<double>(y, y0);
    for (int x = xa; x < xb; ++x) {
      const double cx = std::min<double>(x + 1, x1) - std::max<double>(x, x0);
      blend_pixel(x, y, c, alpha * cx * cy);
    }
  }
}

void Canvas::stroke_rect(double x0, double y0, double x1, double y1, const Stroke& stroke) {
  SvgRecording rec(*this);
  rec.add("<rect x=\"" + num(std::min(x0, x1)) + "\" y=\"" + num(std::min(y0, y1)) + "\" width=\"" +
          num(std::abs(x1 - x0)) + "\" height=\"" + num(std::abs(y1 - y0)) + "\"" +
          stroke_attrs(stroke) + "/>");

  polyline({{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}, stroke);
}

void Canvas::stroke_into(Mask& mask, const std::vector<Point>& points, const Stroke& stroke) const {
  if (points.empty() || !(stroke.width > 0)) return;
  if (points.size() == 1) {
    mask.disk(points[0], stroke.width / 2);
    return;
  }
  for (const auto& piece : dash_pieces(points, stroke.dash, stroke.width)) {
    if (piece.size() == 1) mask.disk(piece[0], stroke.width / 2);
    for (size_t i = 0; i + 1 < piece.size(); ++i)
      mask.capsule(piece[i], piece[i + 1], stroke.width);
  }
}

void Canvas::polyline(const std::vector<Point>& points, const Stroke& stroke) {
  SvgRecording rec(*this);
  bool finite = !points.empty();
  for (const auto& p : points) finite = finite && std::isfinite(p.x) && std::isfinite(p.y);
  if (finite && points.size() == 1)
    rec.add("<circle cx=\"" + num(points[0].x) + "\" cy=\"" + num(points[0].y) + "\" r=\"" +
            num(stroke.width / 2) + "\" fill=\"" + hex(stroke.color) + "\"/>");
  else if (finite)
    rec.add("<polyline points=\"" + points_attr(points) + "\"" + stroke_attrs(stroke) + "/>");

  if (points.empty()) return;
  double lx = points[0].x, hx = lx, ly = points[0].y, hy = ly;
  for (const auto& p : points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) return;  // callers split at gaps
    lx = std::min(lx, p.x), hx = std::max(hx, p.x);
    ly = std::min(ly, p.y), hy = std::max(hy, p.y);
  }
  const double reach = stroke.width / 2 + 2;
  Mask mask = mask_for(lx - reach, ly - reach, hx + reach, hy + reach);
  if (mask.empty()) return;
  stroke_into(mask, points, stroke);
  blend_mask(mask, stroke.color);
}

void Canvas::line(Point a, Point b, const Stroke& stroke) { polyline({a, b}, stroke); }

void Canvas::fill_circle(Point center, double radius, Color c) {
  SvgRecording rec(*this);
  rec.add("<circle cx=\"" + num(center.x) + "\" cy=\"" + num(center.y) + "\" r=\"" + num(radius) +
          "\" fill=\"" + hex(c) + "\"/>");

  const double reach = radius + 2;
  Mask mask = mask_for(center.x - reach, center.y - reach, center.x + reach, center.y + reach);
  if (mask.empty()) return;
  mask.disk(center, radius);
  blend_mask(mask, c);
}

void Canvas::stroke_circle(Point center, double radius, const Stroke& stroke) {
  SvgRecording rec(*this);
  rec.add("<circle cx=\"" + num(center.x) + "\" cy=\"" + num(center.y) + "\" r=\"" + num(radius) +
          "\"" + stroke_attrs(stroke) + "/>");

  if (!stroke.dash.empty()) {
    std::vector<Point> pts;
    const int n = std::max(16, static_cast<int>(radius * 2));
    for (int i = 0; i <= n; ++i) {
      const double a = 2 * kPi * i / n;
      pts.push_back({center.x + radius * std::cos(a), center.y + radius * std::sin(a)});
    }
    polyline(pts, stroke);
    return;
  }
  const double reach = radius + stroke.width + 2;
  Mask mask = mask_for(center.x - reach, center.y - reach, center.x + reach, center.y + reach);
  if (mask.empty()) return;
  mask.ring(center, radius, stroke.width);
  blend_mask(mask, stroke.color);
}

void Canvas::fill_convex_polygon(const std::vector<Point>& vertices, Color c) {
  SvgRecording rec(*this);
  if (vertices.size() >= 3)
    rec.add("<polygon points=\"" + points_attr(vertices) + "\" fill=\"" + hex(c) + "\"/>");

  if (vertices.size() < 3) return;
  double lx = vertices[0].x, hx = lx, ly = vertices[0].y, hy = ly;
  for (const auto& p : vertices) {
    lx = std::min(lx, p.x), hx = std::max(hx, p.x);
    ly = std::min(ly, p.y), hy = std::max(hy, p.y);
  }
  Mask mask = mask_for(lx - 1, ly - 1, hx + 1, hy + 1);
  if (mask.empty()) return;
  mask.convex(vertices);
  blend_mask(mask, c);
}

void Canvas::marker(Point p, Marker shape, double size, Color fill, Color edge) {
  const double r = size / 2;
  const double edge_w = std::max(1.0, size / 8);
  auto outline = [&](const std::vector<Point>& v) {
    if (edge == fill) return;
    std::vector<Point> closed = v;
    closed.push_back(v[0]);
    polyline(closed, {edge, edge_w, {}});
  };
  switch (shape) {
    case Marker::none:
      return;
    case Marker::circle:
      fill_circle(p, r, fill);
      if (edge != fill) stroke_circle(p, r - edge_w / 2, {edge, edge_w, {}});
      return;
    case Marker::square: {
      // Equal area with the circle, so that mixed markers look equally heavy.
      const double h = r * 0.886;
      const std::vector<Point> v = {
          {p.x - h, p.y - h}, {p.x + h, p.y - h}, {p.x + h, p.y + h}, {p.x - h, p.y + h}};
      fill_convex_polygon(v, fill);
      outline(v);
      return;
    }
    case Marker::triangle: {
      const double h = r * 1.2;
      const std::vector<Point> v = {
          {p.x, p.y - h}, {p.x + h * 0.866, p.y + h * 0.5}, {p.x - h * 0.866, p.y + h * 0.5}};
      fill_convex_polygon(v, fill);
      outline(v);
      return;
    }
    case Marker::diamond: {
      const double h = r * 1.15;
      const std::vector<Point> v = {
          {p.x, p.y - h}, {p.x + h * 0.8, p.y}, {p.x, p.y + h}, {p.x - h * 0.8, p.y}};
      fill_convex_polygon(v, fill);
      outline(v);
      return;
    }
    case Marker::cross: {
      const double h = r * 0.8;
      const Stroke s{fill, std::max(1.5, size / 4.5), {}};
      SvgRecording rec(*this);
      rec.add("<path d=\"M" + num(p.x - h) + "," + num(p.y - h) + "L" + num(p.x + h) + "," +
              num(p.y + h) + "M" + num(p.x - h) + "," + num(p.y + h) + "L" + num(p.x + h) + "," +
              num(p.y - h) + "\"" + stroke_attrs(s) + "/>");
      Mask mask = mask_for(p.x - r - 2, p.y - r - 2, p.x + r + 2, p.y + r + 2);
      if (mask.empty()) return;
      mask.capsule({p.x - h, p.y - h}, {p.x + h, p.y + h}, s.width);
      mask.capsule({p.x - h, p.y + h}, {p.x + h, p.y - h}, s.width);
      blend_mask(mask, fill);
      return;
    }
    case Marker::plus: {
      const Stroke s{fill, std::max(1.5, size / 4.5), {}};
      SvgRecording rec(*this);
      rec.add("<path d=\"M" + num(p.x - r) + "," + num(p.y) + "L" + num(p.x + r) + "," + num(p.y) +
              "M" + num(p.x) + "," + num(p.y - r) + "L" + num(p.x) + "," + num(p.y + r) + "\"" +
              stroke_attrs(s) + "/>");
      Mask mask = mask_for(p.x - r - 2, p.y - r - 2, p.x + r + 2, p.y + r + 2);
      if (mask.empty()) return;
      mask.capsule({p.x - r, p.y}, {p.x + r, p.y}, s.width);
      mask.capsule({p.x, p.y - r}, {p.x, p.y + r}, s.width);
      blend_mask(mask, fill);
      return;
    }
  }
}

namespace {

/// The TrueType face that draws `codes` in `style`, or nullptr for the
/// stroke font (no font file, or a code point the font lacks).
const truetype::Face* text_face(const std::u32string& codes, const TextStyle& style) {
  const auto* f = truetype::face(style.bold);
  return f && truetype::covers(*f, codes) ? f : nullptr;
}

}  // namespace

TextMetrics Canvas::measure_text(const std::string& text, const TextStyle& style) {
  if (const auto codes = font::decode_utf8(text); const auto* f = text_face(codes, style)) {
    TextMetrics m;
    m.width = codes.empty() ? 0.0 : truetype::layout(*f, codes, 1.0).width * style.size;
    m.ascent = truetype::ascent(*f) * style.size;
    m.descent = truetype::descent(*f) * style.size;
    return m;
  }
  const double unit = style.size * font::kCapPerEm / font::kCapHeight;
  const double sw = font::stroke_width(style.size, style.bold);
  TextMetrics m;
  const auto codes = font::decode_utf8(text);
  m.width = codes.empty() ? 0.0 : font::run_width(codes) * unit + sw;
  m.ascent = font::kAscender * unit + sw / 2;
  m.descent = font::kDescender * unit + sw / 2;
  return m;
}

double Canvas::text_width(const std::string& text, double size, bool bold) {
  TextStyle style;
  style.size = size;
  style.bold = bold;
  return measure_text(text, style).width;
}

void Canvas::text(Point anchor, const std::string& text, const TextStyle& style) {
  const auto codes = font::decode_utf8(text);
  if (codes.empty() || !(style.size > 0)) return;
  SvgRecording rec(*this);
  if (rec.outer) {
    // The baseline offset the rasterizer uses, so that the SVG text sits where the PNG's does.
    const TextMetrics m = measure_text(text, style);
    double dy = 0;
    if (style.valign == VAlign::top) dy = m.ascent;
    if (style.valign == VAlign::middle) dy = 0.35 * style.size;  // half a capital
    if (style.valign == VAlign::bottom) dy = -m.descent;
    const char* anchor_kind = style.halign == HAlign::left     ? "start"
                              : style.halign == HAlign::center ? "middle"
                                                               : "end";
    std::string e = "<text x=\"" + num(anchor.x) + "\" y=\"" + num(anchor.y + dy) +
                    "\" font-size=\"" + num(style.size) + "\" fill=\"" + hex(style.color) +
                    "\" text-anchor=\"" + anchor_kind + "\"";
    if (style.bold) e += " font-weight=\"bold\"";
    if (style.rotation != 0)
      e += " transform=\"rotate(" + num(-style.rotation) + " " + num(anchor.x) + " " + num(anchor.y) +
           ")\"";
    rec.add(e + ">" + xml_escape(text) + "</text>");
  }
  if (const auto* f = text_face(codes, style)) {
    truetype_text(*f, anchor, codes, style);
    return;
  }
  const double unit = style.size * font::kCapPerEm / font::kCapHeight;
  const double sw = font::stroke_width(style.size, style.bold);
  const TextMetrics m = measure_text(text, style);

  // Text frame: x to the right along the baseline, y down, origin at the
  // left end of the baseline; then aligned and rotated about the anchor.
  double dx = 0, dy = 0;
  if (style.halign == HAlign::center) dx = -m.width / 2;
  if (style.halign == HAlign::right) dx = -m.width;
  if (style.valign == VAlign::top) dy = m.ascent;
  if (style.valign == VAlign::middle) dy = font::kCapHeight * unit / 2;
  if (style.valign == VAlign::bottom) dy = -m.descent;
  const double a = style.rotation * kPi / 180.0;
  const double ca = std::cos(a), sa = std::sin(a);
  auto place = [&](double tx, double ty) {
    return Point{anchor.x + tx * ca + ty * sa, anchor.y - tx * sa + ty * ca};
  };

  std::vector<std::vector<Point>> strokes;
  double pen = sw / 2;
  double lx = 1e300, hx = -1e300, ly = 1e300, hy = -1e300;
  for (char32_t c : codes) {
    const auto& g = font::glyph(c);
    for (const auto& s : g.strokes) {
      std::vector<Point> pts;
      pts.reserve(s.size());
      for (const auto& p : s) {
        const Point q = place(dx + pen + p.x * unit, dy - p.y * unit);
        lx = std::min(lx, q.x), hx = std::max(hx, q.x);
        ly = std::min(ly, q.y), hy = std::max(hy, q.y);
        pts.push_back(q);
      }
      strokes.push_back(std::move(pts));
    }
    pen += g.advance * unit;
  }
  if (strokes.empty()) return;
  const double reach = sw + 2;
  if (hx + reach < clip_x0_ || lx - reach > clip_x1_ || hy + reach < clip_y0_ ||
      ly - reach > clip_y1_)
    return;
  Mask mask = mask_for(lx - reach, ly - reach, hx + reach, hy + reach);
  if (mask.empty()) return;
  for (const auto& s : strokes) {
    // Dots (i, j, '.', ':') are drawn a little larger than the stroke so
    // that they survive anti-aliasing at small sizes.
    if (s.size() == 1) mask.disk(s[0], std::max(sw * 0.62, 0.75));
    for (size_t i = 0; i + 1 < s.size(); ++i) mask.capsule(s[i], s[i + 1], sw);
  }
  blend_mask(mask, style.color);
}

void Canvas::truetype_text(const truetype::Face& f, Point anchor, const std::u32string& codes,
                           const TextStyle& style) {
  // Outlines flattened to a tenth of a pixel, in em units scaled by the size.
  const truetype::Layout lay = truetype::layout(f, codes, 0.1 / style.size);
  if (lay.contours.empty()) return;
  const double size = style.size;
  double dx = 0, dy = 0;  // text frame: x along the baseline, y down
  if (style.halign == HAlign::center) dx = -lay.width * size / 2;
  if (style.halign == HAlign::right) dx = -lay.width * size;
  if (style.valign == VAlign::top) dy = truetype::ascent(f) * size;
  if (style.valign == VAlign::middle) dy = truetype::cap_height(f) * size / 2;
  if (style.valign == VAlign::bottom) dy = -truetype::descent(f) * size;
  const double a = style.rotation * kPi / 180.0;
  const double ca = std::cos(a), sa = std::sin(a);
  std::vector<std::vector<Point>> contours;
  double lx = 1e300, hx = -1e300, ly = 1e300, hy = -1e300;
  for (const auto& c : lay.contours) {
    std::vector<Point> pts;
    pts.reserve(c.size());
    for (const auto& p : c) {
      const double tx = dx + p.x * size, ty = dy - p.y * size;
      const Point q{anchor.x + tx * ca + ty * sa, anchor.y - tx * sa + ty * ca};
      lx = std::min(lx, q.x), hx = std::max(hx, q.x);
      ly = std::min(ly, q.y), hy = std::max(hy, q.y);
      pts.push_back(q);
    }
    contours.push_back(std::move(pts));
  }
  if (hx < clip_x0_ || lx > clip_x1_ || hy < clip_y0_ || ly > clip_y1_) return;
  Mask mask = mask_for(lx - 1, ly - 1, hx + 1, hy + 1);
  if (mask.empty()) return;
  mask.fill_nonzero(contours);
  blend_mask(mask, style.color);
}

void Canvas::draw_image(int x, int y, const torch::Tensor& image, int scale) {
  TORCH_CHECK(scale >= 1, "draw_image: scale must be ≥ 1, got ", scale);
  const auto img = to_uint8_image(image);
  const int64_t c = img.size(0), h = img.size(1), w = img.size(2);
  SvgRecording rec(*this);
  if (rec.outer)  // scaled up by the viewer with pixelated rendering, as here
    svg_add_image(x, y, static_cast<double>(w * scale), static_cast<double>(h * scale),
                  c == 4 ? img.narrow(0, 0, 3).clone() : img.clone());
  const uint8_t* data = img.data_ptr<uint8_t>();
  for (int64_t iy = 0; iy < h; ++iy)
    for (int64_t ix = 0; ix < w; ++ix) {
      Color col;
      if (c == 1) {
        const uint8_t v = data[iy * w + ix];
        col = Color(v, v, v);
      } else {
        col = Color(data[(0 * h + iy) * w + ix], data[(1 * h + iy) * w + ix],
                    data[(2 * h + iy) * w + ix]);
      }
      for (int sy = 0; sy < scale; ++sy)
        for (int sx = 0; sx < scale; ++sx) {
          const int px = x + static_cast<int>(ix) * scale + sx;
          const int py = y + static_cast<int>(iy) * scale + sy;
          if (px >= clip_x0_ && py >= clip_y0_ && px < clip_x1_ && py < clip_y1_)
            set_pixel(px, py, col);
        }
    }
}

torch::Tensor Canvas::to_tensor() const {
  auto hwc =
      torch::from_blob(const_cast<uint8_t*>(rgb_.data()), {height_, width_, 3}, torch::kByte);
  return hwc.permute({2, 0, 1}).contiguous();
}

std::string Canvas::encode_png() const {
  return encode_png_pixels(rgb_.data(), width_, height_, 3);
}

void Canvas::write_png(const std::string& path) const { write_file_atomic(path, encode_png()); }

}  // namespace sparseloop
