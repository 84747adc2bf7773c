#include "sparseloop/plot/canvas.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

using namespace sparseloop;

namespace {

const Color kRed(200, 30, 30);

bool is_white(Color c) { return c == colors::white; }

// Bounding box of every pixel that is not the background.
struct Box {
  int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;  // inclusive
  bool empty() const { return x1 < 0; }
  int w() const { return x1 - x0 + 1; }
  int h() const { return y1 - y0 + 1; }
};
Box ink(const Canvas& c) {
  Box b;
  for (int y = 0; y < c.height(); ++y)
    for (int x = 0; x < c.width(); ++x)
      if (!is_white(c.pixel(x, y))) {
        b.x0 = std::min(b.x0, x), b.x1 = std::max(b.x1, x);
        b.y0 = std::min(b.y0, y), b.y1 = std::max(b.y1, y);
      }
  return b;
}

Canvas draw_text(const std::string& s, TextStyle style, Point at = {20, 60}) {
  Canvas c(400, 120);
  c.text(at, s, style);
  return c;
}

}  // namespace

TEST(Canvas, StartsAsBackgroundAndChecksBounds) {
  Canvas c(10, 6, Color(1, 2, 3));
  EXPECT_EQ(c.width(), 10);
  EXPECT_EQ(c.height(), 6);
  EXPECT_EQ(c.pixel(9, 5), Color(1, 2, 3));
  EXPECT_THROW(c.pixel(10, 0), c10::Error);
  EXPECT_THROW(Canvas(0, 5), c10::Error);
  const auto t = c.to_tensor();
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 6, 10}));
  EXPECT_EQ(t[2][5][9].item<int>(), 3);
}

TEST(Canvas, FillRectCoversExactlyItsPixels) {
  Canvas c(20, 20);
  c.fill_rect(2, 3, 6, 8, kRed);
  EXPECT_EQ(c.pixel(2, 3), kRed);
  EXPECT_EQ(c.pixel(5, 7), kRed);
  EXPECT_TRUE(is_white(c.pixel(6, 7)));
  EXPECT_TRUE(is_white(c.pixel(1, 3)));
  EXPECT_TRUE(is_white(c.pixel(2, 8)));
  // A half-covered column is blended halfway.
  c.fill_rect(10, 10, 11.5, 12, colors::black);
  EXPECT_EQ(c.pixel(10, 10), colors::black);
  EXPECT_NEAR(c.pixel(11, 10).r, 128, 1);
}

TEST(Canvas, LineThroughPixelCentresIsCrispAndDiagonalsAreAntiAliased) {
  Canvas c(30, 30);
  c.line({2, 10.5}, {25, 10.5}, {colors::black, 1.0, {}});
  EXPECT_EQ(c.pixel(12, 10), colors::black);
  EXPECT_TRUE(is_white(c.pixel(12, 9)));
  EXPECT_TRUE(is_white(c.pixel(12, 11)));
  Canvas d(30, 30);
  d.line({0, 0}, {30, 20}, {colors::black, 1.5, {}});
  int partial = 0;
  for (int x = 0; x < 30; ++x)
    for (int y = 0; y < 30; ++y) {
      const int v = d.pixel(x, y).r;
      partial += v > 0 && v < 255 ? 1 : 0;
    }
  EXPECT_GT(partial, 20);
}

TEST(Canvas, ThickLineHasItsWidth) {
  Canvas c(40, 40);
  c.line({5, 20}, {35, 20}, {colors::black, 6.0, {}});
  // Rows 17..22 are covered (|y + 0.5 − 20| ≤ 3), row 15 and 24 are not.
  for (int y = 17; y <= 22; ++y) EXPECT_LT(c.pixel(20, y).r, 100) << y;
  EXPECT_TRUE(is_white(c.pixel(20, 15)));
  EXPECT_TRUE(is_white(c.pixel(20, 24)));
}

TEST(Canvas, RetracedPolylineIsNotDarkerThanOneStroke) {
  const Stroke gray{Color(128, 128, 128), 2.0, {}};
  Canvas once(30, 20), twice(30, 20);
  once.polyline({{2, 10}, {28, 10}}, gray);
  twice.polyline({{2, 10}, {28, 10}, {2, 10}, {15, 10}}, gray);
  EXPECT_EQ(once.data(), twice.data());
}

TEST(Canvas, DashedLineHasGapsAndDottedLineHasDots) {
  for (auto dash : {std::vector<double>{6, 4}, std::vector<double>{0, 5}}) {
    Canvas c(100, 10);
    c.line({2, 5.5}, {98, 5.5}, {colors::black, 2.0, dash});
    int on = 0, off = 0;
    for (int x = 4; x < 96; ++x) (c.pixel(x, 5).r < 128 ? on : off)++;
    EXPECT_GT(on, 10);
    EXPECT_GT(off, 10);
  }
}

TEST(Canvas, CirclesAndMarkersDrawAroundTheirCentre) {
  Canvas c(60, 60);
  c.fill_circle({30, 30}, 8, kRed);
  EXPECT_EQ(c.pixel(30, 30), kRed);
  EXPECT_EQ(c.pixel(36, 30), kRed);
  EXPECT_TRUE(is_white(c.pixel(40, 30)));
  Canvas r(60, 60);
  r.stroke_circle({30, 30}, 10, {colors::black, 2.0, {}});
  EXPECT_TRUE(is_white(r.pixel(30, 30)));
  EXPECT_LT(r.pixel(30, 19).r, 128);
  for (auto m : {Marker::circle, Marker::square, Marker::triangle, Marker::diamond, Marker::cross,
                 Marker::plus}) {
    Canvas k(30, 30);
    k.marker({15, 15}, m, 10, kRed, colors::white);
    EXPECT_EQ(k.pixel(15, 15), kRed) << static_cast<int>(m);
    EXPECT_TRUE(is_white(k.pixel(2, 2))) << static_cast<int>(m);
    const Box b = ink(k);
    EXPECT_LE(b.w(), 15) << static_cast<int>(m);
    EXPECT_GE(b.w(), 7) << static_cast<int>(m);
  }
}

TEST(Canvas, ClipRectangleLimitsDrawing) {
  Canvas c(20, 20);
  c.set_clip(0, 0, 10, 10);
  c.fill_rect(0, 0, 20, 20, kRed);
  c.line({0, 15.5}, {20, 15.5}, {kRed, 3, {}});
  EXPECT_EQ(c.pixel(5, 5), kRed);
  EXPECT_TRUE(is_white(c.pixel(15, 15)));
  EXPECT_TRUE(is_white(c.pixel(5, 15)));
  c.reset_clip();
  c.fill_rect(15, 15, 16, 16, kRed);
  EXPECT_EQ(c.pixel(15, 15), kRed);
}

TEST(Canvas, FarAwayAndNonFiniteGeometryIsHarmless) {
  Canvas c(20, 20);
  c.line({-1e30, 5}, {1e30, 5}, {colors::black, 1, {}});
  c.fill_circle({1e20, 1e20}, 5, colors::black);
  c.polyline({{0, 0}, {NAN, 3}, {5, 5}}, {colors::black, 1, {}});
  c.fill_rect(-1e300, -1e300, 1e300, 2, kRed);
  c.marker({-1e12, 3}, Marker::cross, 8, kRed);
  EXPECT_EQ(c.pixel(10, 0), kRed);
  EXPECT_TRUE(is_white(c.pixel(10, 15)));
}

TEST(Canvas, TextWidthMatchesTheInkItDraws) {
  for (const std::string s :
       {"Hello, world", "0.25", "PSNR (dB)", "\u03BB\u03C3\u0394\u03BC\u03B2\u03B7",
        "x10\u207B\u00B3", "Wj", "(a)[b]"}) {
    TextStyle style;
    style.size = 20;
    const auto m = Canvas::measure_text(s, style);
    const Box b = ink(draw_text(s, style));
    ASSERT_FALSE(b.empty()) << s;
    EXPECT_NEAR(b.x0, 20, 1.5) << s;
    EXPECT_NEAR(b.w(), m.width, 2.0) << s;
    // Ink stays within the ascent/descent band around the baseline at y = 60.
    EXPECT_GE(b.y0, 60 - m.ascent - 1.5) << s;
    EXPECT_LE(b.y1, 60 + m.descent + 1.5) << s;
  }
  EXPECT_EQ(Canvas::text_width("", 13), 0.0);
  EXPECT_GT(Canvas::text_width("mmmm", 13), Canvas::text_width("iiii", 13));
  EXPECT_GT(Canvas::text_width("abc", 26), 1.9 * Canvas::text_width("abc", 13));
  EXPECT_GT(Canvas::text_width("abc", 13, true), Canvas::text_width("abc", 13));
}

TEST(Canvas, TextAlignsAroundItsAnchor) {
  TextStyle style;
  style.size = 16;
  style.halign = HAlign::right;
  style.valign = VAlign::top;
  Box b = ink(draw_text("Right", style, {300, 20}));
  EXPECT_NEAR(b.x1 + 1, 300, 1.5);
  EXPECT_NEAR(b.y0, 20, 1.5);
  style.halign = HAlign::center;
  style.valign = VAlign::middle;
  b = ink(draw_text("CENTRE", style, {200, 60}));
  EXPECT_NEAR((b.x0 + b.x1 + 1) / 2.0, 200, 1.5);
  EXPECT_NEAR((b.y0 + b.y1 + 1) / 2.0, 60, 1.5);  // capitals only: centred on the anchor
}

TEST(Canvas, RotatedTextRunsUpwards) {
  TextStyle style;
  style.size = 16;
  style.rotation = 90;
  style.halign = HAlign::center;
  style.valign = VAlign::middle;
  Canvas c(100, 300);
  c.text({50, 150}, "PSNR (dB)", style);
  const Box b = ink(c);
  const double w = Canvas::text_width("PSNR (dB)", 16);
  EXPECT_NEAR(b.h(), w, 2.0);
  EXPECT_LT(b.w(), 20);
  EXPECT_NEAR((b.y0 + b.y1 + 1) / 2.0, 150, 1.5);
  // Reads upwards: left-aligned text starts at the anchor and climbs.
  style.halign = HAlign::left;
  Canvas p(100, 300);
  p.text({50, 150}, "PSNR (dB)", style);
  EXPECT_NEAR(ink(p).y1 + 1, 150, 1.5);
  EXPECT_NEAR(ink(p).y0, 150 - w, 2.0);
}

TEST(Canvas, EveryPrintableAsciiAndGreekCharacterHasItsOwnGlyph) {
  TextStyle style;
  style.size = 24;
  const auto box = draw_text("\uE000", style).data();  // a code point the font lacks
  std::vector<std::string> chars;
  for (char ch = 33; ch < 127; ++ch) chars.emplace_back(1, ch);
  for (const char* g : {"\u03BB", "\u03C3", "\u0394", "\u03BC", "\u03B2", "\u03B7", "\u03B1",
                        "\u03B5", "\u00B2", "\u207B", "\u2212", "\u00D7", "\u2016", "\u2081"})
    chars.emplace_back(g);
  for (const auto& s : chars) {
    const auto canvas = draw_text(s, style);
    EXPECT_FALSE(ink(canvas).empty()) << s;
    EXPECT_NE(canvas.data(), box) << "'" << s << "' falls back to the box";
  }
  // Distinct glyphs for look-alikes that matter in labels.
  EXPECT_NE(draw_text("0", style).data(), draw_text("O", style).data());
  EXPECT_NE(draw_text("l", style).data(), draw_text("1", style).data());
  // A space advances without ink; malformed UTF-8 draws a box instead of crashing.
  EXPECT_TRUE(ink(draw_text(" ", style)).empty());
  EXPECT_GT(Canvas::text_width("a b", 13), Canvas::text_width("ab", 13));
  EXPECT_FALSE(ink(draw_text("\xff\xfe", style)).empty());
}

TEST(Canvas, DrawImageCopiesAndUpscales) {
  Canvas c(10, 10);
  auto img = torch::tensor({0, 255, 128, 0}, torch::kByte).reshape({1, 2, 2});
  c.draw_image(1, 1, img, 3);
  EXPECT_EQ(c.pixel(1, 1), colors::black);
  EXPECT_EQ(c.pixel(3, 3), colors::black);
  EXPECT_EQ(c.pixel(4, 1), colors::white);
  EXPECT_EQ(c.pixel(1, 4), Color(128, 128, 128));
  auto rgb = torch::zeros({3, 1, 1});
  rgb[1] = 1.0;
  c.draw_image(9, 9, rgb);
  EXPECT_EQ(c.pixel(9, 9), Color(0, 255, 0));
}

// With DejaVu Sans installed (scripts/setup.sh), labels are drawn from the
// real font: Ẑ (Z + combining circumflex, the CTRL objective's legend), ‖·‖,
// ℓ₁, λ, ≈ and ∞ are glyphs with ink, not the fallback box; with
// SPARSELOOP_FONT=none the stroke font draws the same strings.
TEST(Canvas, RealFontDrawsThePapersSymbolsAndTheStrokeFontIsTheFallback) {
  if (!std::filesystem::exists("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    GTEST_SKIP() << "fonts-dejavu-core is not installed";
  TextStyle style;
  style.size = 24;
  const auto box = draw_text("\uE000", style).data();  // no font has it: the stroke font's box
  for (const char* s : {"Z\u0302", "\u2016x\u2016", "\u2113\u2081", "\u03BB", "\u2248", "\u221E"}) {
    const auto c = draw_text(s, style);
    EXPECT_FALSE(ink(c).empty()) << s;
    EXPECT_NE(c.data(), box) << s;
  }
  // The circumflex is ink above the Z's cap height.
  const Box z = ink(draw_text("Z", style)), zhat = ink(draw_text("Z\u0302", style));
  EXPECT_LT(zhat.y0, z.y0 - 2);
  const auto real = draw_text("PSNR (dB)", style).data();
  setenv("SPARSELOOP_FONT", "none", 1);
  const auto fallback = draw_text("PSNR (dB)", style);
  unsetenv("SPARSELOOP_FONT");
  EXPECT_FALSE(ink(fallback).empty());
  EXPECT_NE(fallback.data(), real);  // a different font drew it
}
