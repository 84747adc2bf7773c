// Canvas::svg (issue 11: figures as SVG next to each PNG): the elements in
// drawing order, one per public call, text as escaped <text>, raster content
// embedded; and a chart's SVG rendered by Debian's headless Chromium looks
// like its PNG (skipped where Chromium is absent).
#include <cstdlib>
#include <filesystem>
#include <regex>

#include <gtest/gtest.h>

#include "support/testing.h"
#include "sparseloop/plot/canvas.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/util/fs.h"

using namespace sparseloop;

namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(CanvasSvg, RecordsEachCallOnceInOrderWithClipsTextAndRaster) {
  Canvas c(120, 80, colors::white);
  c.fill_rect(0, 0, 10, 10, colors::black);
  c.polyline({{1, 1}, {50, 40}, {90, 5}}, {Color(200, 0, 0), 2.0, {4, 2}});
  c.set_clip(10, 10, 60, 60);
  c.marker({30, 30}, Marker::circle, 8, Color(0, 0, 255), colors::black);  // fill + ring
  c.marker({40, 30}, Marker::square, 8, Color(0, 0, 255), colors::black);  // polygon + outline
  c.reset_clip();
  c.text({5, 70}, "Ẑ <a & b> ‖x‖", TextStyle{12.0, colors::ink, HAlign::left, VAlign::baseline, 90.0});
  for (int y = 20; y < 24; ++y)
    for (int x = 70; x < 76; ++x) c.set_pixel(x, y, Color(0, 200, 0));  // a heatmap-like run
  c.fill_rect(100, 0, 110, 10, colors::black);
  c.draw_image(100, 50, torch::full({1, 3, 4}, 128, torch::kByte), 2);
  const std::string svg = c.svg();

  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("width=\"120\" height=\"80\""), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 2u);  // the dashed line, the square's outline
  EXPECT_NE(svg.find("stroke-dasharray=\"4 2\""), std::string::npos);
  EXPECT_EQ(count(svg, "<circle"), 2u);    // the circle marker: its fill and its ring, nothing more
  EXPECT_EQ(count(svg, "<polygon"), 1u);
  EXPECT_EQ(count(svg, "<clipPath"), 1u);  // reset_clip closes the group, opens none
  EXPECT_EQ(count(svg, "<g clip-path"), count(svg, "</g>"));
  EXPECT_NE(svg.find(">Ẑ &lt;a &amp; b&gt; ‖x‖</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("rotate(-90 5 70)"), std::string::npos);
  EXPECT_EQ(count(svg, "<image"), 2u);     // the pixel run and the drawn image
  EXPECT_NE(svg.find("x=\"70\" y=\"20\" width=\"6\" height=\"4\""), std::string::npos);
  EXPECT_NE(svg.find("x=\"100\" y=\"50\" width=\"8\" height=\"6\""), std::string::npos);
  EXPECT_EQ(count(svg, "data:image/png;base64,"), 2u);
  // Drawing order kept: the pixel run comes before the rectangle drawn after it.
  EXPECT_LT(svg.find("x=\"70\" y=\"20\""), svg.find("<rect x=\"100\""));
  EXPECT_EQ(svg.find('\x01'), std::string::npos);
  // Asking twice gives the same document (svg() does not consume the log).
  EXPECT_EQ(c.svg(), svg);
}

TEST(CanvasSvg, SavePlotWritesTheSvgNextToThePngAndChromiumDrawsItAlike) {
  ts::TempDir dir;
  LineChart chart;
  chart.title = "Ẑ against λ";
  chart.x.label = "λ";
  chart.y.label = "‖x − Dz‖²";
  chart.series.push_back({"train", {0, 1, 2, 3, 4}, {4, 2.5, 1.8, 1.2, 1.0}});
  chart.series.push_back({"test", {0, 1, 2, 3, 4}, {4.2, 2.9, 2.2, 1.9, 1.8}, LineStyle::dashed,
                          Marker::circle});
  save_plot(dir.file("curve.png"), chart);
  ASSERT_TRUE(file_exists(dir.file("curve.svg")));
  ASSERT_TRUE(file_exists(dir.file("curve.csv")));
  const std::string svg = read_file(dir.file("curve.svg"));
  EXPECT_NE(svg.find(">Ẑ against λ</text>"), std::string::npos);

  const char* browser = "/usr/bin/chromium-headless-shell";
  if (!std::filesystem::exists(browser)) GTEST_SKIP() << browser << " is not installed";
  const auto png = ts::decode_png(read_file(dir.file("curve.png")));  // (3, H, W)
  const int64_t h = png.size(1), w = png.size(2);
  const std::string shot = dir.file("shot.png");
  const std::string cmd = std::string("timeout 120 ") + browser +
                          " --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars"
                          " --window-size=" + std::to_string(w) + "," + std::to_string(h) +
                          " --screenshot=" + shot + " file://" + dir.file("curve.svg") +
                          " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0 || !file_exists(shot))
    GTEST_SKIP() << browser << " cannot start on this machine";
  auto got = ts::decode_png(read_file(shot));
  ASSERT_GE(got.size(1), h);
  ASSERT_GE(got.size(2), w);
  got = got.narrow(0, 0, 3).narrow(1, 0, h).narrow(2, 0, w);
  const auto diff = (got.to(torch::kFloat) - png.to(torch::kFloat)).abs();  // (3, H, W)
  // Anti-aliasing and hinting differ between the two renderers; the figure must not.
  const double mean = diff.mean().item<double>();
  const double far = (diff.amax(0) > 96).to(torch::kFloat).mean().item<double>();
  EXPECT_LT(mean, 4.0) << "mean |SVG − PNG| per channel";
  EXPECT_LT(far, 0.02) << "fraction of pixels far apart";
}
