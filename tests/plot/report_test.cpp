#include "sparseloop/plot/report.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "sparseloop/io/png.h"
#include "sparseloop/plot/base64.h"
#include "sparseloop/plot/canvas.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

}  // namespace

TEST(Report, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(Report, EscapesAndFormats) {
  EXPECT_EQ(html_escape("<b>\"R&D\" 'x'</b>"),
            "&lt;b&gt;&quot;R&amp;D&quot; &#39;x&#39;&lt;/b&gt;");
  EXPECT_EQ(format_number(17.0912), "17.09");
  EXPECT_EQ(format_number(0.36712), "0.3671");
  EXPECT_EQ(format_number(600), "600");
  EXPECT_EQ(format_number(-0.0), "0");
  EXPECT_EQ(format_number(1.5e-7), "1.500e-07");
  EXPECT_EQ(format_number(95.3412, 2), "95.34");
  EXPECT_EQ(format_number(NAN), "\u2014");
  EXPECT_EQ(format_number(INFINITY), "\u221E");
}

TEST(Report, IsOneSelfContainedEscapedDocument) {
  const std::string png = encode_png(torch::rand({3, 4, 5}));
  Canvas canvas(30, 20);
  Report r("Run <ctrl> & \"friends\"");
  r.subtitle("runs/x <y>").meta("model", "csc-ctrl").meta("steps", "600");
  r.section("Results & <metrics>");
  r.paragraph("Line one <script>alert(1)</script>\nline two\n\nSecond paragraph.");
  r.cards({{"PSNR", "18.4 dB", "paper: 17.7 dB", "\u03C3 = 0"}, {"Sparsity", "91.8 %", "", ""}});
  Table t;
  t.caption = "Denoising";
  t.header = {"\u03BB", "PSNR", "MSE", "note"};
  t.rows = {{0.01, 17.09, 0.0195, "a<b"}, {0.5, 18.62, 0.0137, ""}, {0.1, 18.1, 0.0155, "c"}};
  t.best = {Best::none, Best::max, Best::min};
  t.decimals = {-1, 2};
  r.table(t);
  r.section("Figures").figure_png(png, "A <figure>").figure(canvas, "canvas");
  r.section("Config").details("Resolved configuration", "[model]\nname = \"a<b>\"\n");
  const std::string html = r.html();

  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<meta charset=\"utf-8\">"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("<title>Run &lt;ctrl&gt; &amp; &quot;friends&quot;</title>"),
            std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;<br>line two</p>"), std::string::npos);
  EXPECT_NE(html.find("<p>Second paragraph.</p>"), std::string::npos);
  EXPECT_EQ(count(html, "data:image/png;base64,"), 2u);
  EXPECT_NE(html.find(base64_encode(png)), std::string::npos);
  EXPECT_NE(html.find("width=\"5\" height=\"4\""), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);  // no external resources
  EXPECT_EQ(html.find("src=\"/"), std::string::npos);
  EXPECT_NE(html.find("paper: 17.7 dB"), std::string::npos);
  // Best per column: the largest PSNR, the smallest MSE, formatted per column.
  EXPECT_NE(html.find("<td class=\"num best\">18.62</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num best\">0.0137</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">17.09</td>"), std::string::npos);
  EXPECT_EQ(count(html, "num best"), 2u);
  EXPECT_NE(html.find("<td>a&lt;b</td>"), std::string::npos);
  EXPECT_NE(html.find("<details><summary>Resolved configuration</summary><pre>[model]\nname = "
                      "&quot;a&lt;b&gt;&quot;\n</pre></details>"),
            std::string::npos);
  // Three sections: a contents list linking to each.
  EXPECT_NE(html.find("href=\"#section-3\""), std::string::npos);
  EXPECT_EQ(count(html, "<section"), count(html, "</section>"));
}

TEST(Report, FiguresMustBePngFiles) {
  ts::TempDir dir;
  Report r("x");
  write_file_atomic(dir.file("notes.txt"), "not a picture");
  try {
    r.figure_file(dir.file("notes.txt"));
    ADD_FAILURE() << "accepted a text file as a figure";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("notes.txt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(r.figure_file(dir.file("missing.png")), InputError);
  EXPECT_THROW(r.figure_png("GIF89a..."), InputError);
  write_png(dir.file("ok.png"), torch::zeros({1, 2, 2}));
  r.figure_file(dir.file("ok.png"), "ok");
  EXPECT_EQ(count(r.html(), "data:image/png;base64,"), 1u);
}

TEST(Report, WriteIsAtomic) {
  ts::TempDir dir;
  Report r("x");
  r.paragraph("hello");
  r.write(dir.file("report.html"));
  r.write(dir.file("report.html"));
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"report.html"});
  EXPECT_EQ(read_file(dir.file("report.html")), r.html());
}
