// Renders one of each figure kind, as a smoke test and as a gallery to look
// at: with SPARSELOOP_FIGURE_DIR set, the PNGs (and report.html) go there
// instead of a temporary folder, e.g.
//   SPARSELOOP_FIGURE_DIR=/tmp/io-demo build/tests/sparseloop_tests --gtest_filter='FigureDemo.*'
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "sparseloop/io/png.h"
#include "sparseloop/plot/canvas.h"
#include "sparseloop/plot/image_grid.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/plot/report.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

class FigureDemo : public ::testing::Test {
 protected:
  std::string out(const std::string& name) {
    const char* env = std::getenv("SPARSELOOP_FIGURE_DIR");
    if (env != nullptr && *env != '\0') {
      make_dirs(env);
      return std::string(env) + "/" + name;
    }
    return dir_.file(name);
  }
  ts::TempDir dir_;
};

LineChart training_curves() {
  LineChart chart;
  chart.title = "Reconstruction quality during training";
  chart.x.label = "step";
  chart.y.label = "PSNR (dB)";
  const char* names[] = {"CSC-CTRL (Strategy 2)", "CSC-CTRL (Strategy 1)", "CTRL (plain conv)"};
  const double ceiling[] = {18.6, 15.2, 16.8};
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 0.25);
  for (int s = 0; s < 3; ++s) {
    Series series;
    series.name = names[s];
    for (int step = 0; step <= 600; step += 20) {
      series.x.push_back(step);
      series.y.push_back(ceiling[s] * (1 - std::exp(-step / 120.0)) + 6 + noise(rng));
    }
    if (s == 0) series.marker = Marker::circle;
    if (s == 1) series.line = LineStyle::dashed;
    if (s == 2) series.y[12] = NAN;  // a logging gap
    chart.series.push_back(series);
  }
  chart.references.push_back({17.7, "paper: 17.7 dB", true, colors::mid_gray});
  return chart;
}

LineChart loss_curves() {
  LineChart chart;
  chart.title = "Training loss";
  chart.x.label = "epoch";
  chart.y.label = "loss";
  chart.y.scale = AxisScale::log;
  for (int s = 0; s < 2; ++s) {
    Series series;
    series.name = s == 0 ? "train" : "validation";
    for (int e = 1; e <= 200; ++e) {
      series.x.push_back(e);
      series.y.push_back(2.0 * std::pow(e, -1.1 + 0.25 * s) + 1e-3);
    }
    chart.series.push_back(series);
  }
  return chart;
}

Heatmap similarity() {
  const char* names[] = {"airplane", "automobile", "bird",  "cat",  "deer",
                         "dog",      "frog",       "horse", "ship", "truck"};
  const int per = 30, k = 10, n = per * k;
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0, 1);
  auto z = torch::zeros({n, 24});
  auto means = torch::randn({k, 24}, torch::TensorOptions().dtype(torch::kFloat)) * 1.2;
  for (int i = 0; i < n; ++i) z[i] = means[i / per] + torch::randn({24}) * 0.8;
  z = torch::nn::functional::normalize(z, torch::nn::functional::NormalizeFuncOptions().dim(1));
  Heatmap h;
  h.title = "Cosine similarity of features (sorted by class)";
  h.values = z.matmul(z.t()).abs();
  h.vmin = 0;
  h.vmax = 1;
  h.colorbar_label = "|cosine similarity|";
  for (int c = 0; c < k; ++c) h.row_blocks.push_back({names[c], per});
  return h;
}

BarChart robustness() {
  BarChart chart;
  chart.title = "Accuracy under Gaussian noise (CIFAR-10)";
  chart.xlabel = "noise level \u03C3";
  chart.y.label = "top-1 accuracy (%)";
  chart.categories = {"0", "0.04", "0.08", "0.12", "0.16", "0.20"};
  chart.series = {
      {"ResNet-18", {95.1, 86.0, 62.3, 41.0, 28.5, 20.1}, {}, std::nullopt},
      {"SDNet-18, \u03BB = 0.1", {95.3, 87.2, 66.8, 47.3, 33.0, 24.6}, {}, std::nullopt},
      {"SDNet-18, selected \u03BB",
       {95.3, 89.9, 80.1, 69.4, 58.2, 49.7},
       {0.2, 0.4, 0.9, 1.1, 1.4, 1.6},
       std::nullopt},
  };
  chart.value_labels = false;
  return chart;
}

ScatterFit lambda_fit() {
  ScatterFit s;
  s.title = "Selecting \u03BB from the reconstruction residual";
  s.x.label = "residual \u2016x \u2212 Dz\u2016\u00B2 / n";
  s.y.label = "best \u03BB";
  s.name = "noise levels";
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0, 0.04);
  for (int i = 0; i < 14; ++i) {
    const double r = 0.02 + 0.012 * i;
    s.xs.push_back(r);
    s.ys.push_back(0.1 + 6.5 * r + noise(rng));
  }
  Series sel;
  sel.name = "selected for \u03C3 = 0.12";
  sel.x = {0.1};
  sel.y = {0.1 + 6.5 * 0.1};
  sel.line = LineStyle::none;
  sel.marker = Marker::diamond;
  sel.marker_size = 12;
  sel.color = colors::ink;
  s.extra.push_back(sel);
  return s;
}

Canvas specimen() {
  Canvas c(900, 420);
  TextStyle t;
  double y = 30;
  for (double size : {11.0, 12.5, 14.0, 17.0, 24.0}) {
    t.size = size;
    c.text({12, y}, "ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,:;!?()[]{}<>", t);
    c.text({12, y + size * 1.3},
           "abcdefghijklmnopqrstuvwxyz +-*/=%_|~^'\"#$&@\\` "
           "\u03BB\u03C3\u0394\u03BC\u03B2\u03B7\u03B1\u03B3\u03B4\u03B5\u03B8\u03C0\u03C1\u03C4"
           "\u03C6\u03C9\u03A3 10\u207B\u00B3 2\u00D710\u2076 "
           "\u00B1\u00B0\u2212\u2248\u2264\u2265\u2192\u221E \u2016x\u2016 \u2113\u2081 z\u2080",
           t);
    y += size * 2.9;
  }
  t.size = 15;
  t.bold = true;
  c.text({12, y}, "Bold: Reconstruction PSNR vs. step (\u03BB = 0.01)", t);
  return c;
}

}  // namespace

TEST_F(FigureDemo, RendersOneOfEachKind) {
  save_plot(out("line.png"), training_curves());
  save_plot(out("log.png"), loss_curves());
  PlotStyle square;
  square.width = 720;
  square.height = 640;
  save_plot(out("heatmap.png"), similarity(), square);
  save_plot(out("bars.png"), robustness());
  save_plot(out("scatter_fit.png"), lambda_fit());
  specimen().write_png(out("font.png"));

  auto inputs = torch::rand({10, 1, 28, 28});
  auto recon = (inputs + 0.1 * torch::randn_like(inputs)).clamp(0, 1);
  write_png(out("rows.png"), image_grid_with_rows({inputs, recon}, {"input", "reconstruction"}));
  write_png(out("grid.png"), make_grid(torch::rand({20, 3, 32, 32}), 10));

  Report r("Demo report");
  r.subtitle("All figure kinds").meta("model", "csc-ctrl").meta("steps", "600");
  r.section("Key metrics")
      .cards({{"PSNR", "18.4 dB", "paper: 17.7 dB", "σ = 0"},
              {"Sparsity", "91.8 %", "paper: 91.8 %", ""}});
  Table t;
  t.caption = "Denoising, σ = 0.5";
  t.header = {"λ", "PSNR (dB)", "SSIM", "MSE"};
  t.rows = {{0.01, 17.09, 0.367, 0.0195}, {0.1, 18.1, 0.43, 0.0155}, {0.5, 18.62, 0.468, 0.0137}};
  t.best = {Best::none, Best::max, Best::max, Best::min};
  r.table(t);
  r.section("Figures")
      .figure_file(out("line.png"), "Training curves")
      .figure_file(out("heatmap.png"), "Similarity");
  r.details("Resolved configuration", "[model]\nname = \"csc-ctrl\"\nlambda = 0.01\n");
  r.write(out("report.html"));
  for (const char* f : {"line.png", "log.png", "heatmap.png", "bars.png", "scatter_fit.png",
                        "font.png", "rows.png", "grid.png", "report.html"})
    EXPECT_TRUE(file_exists(out(f))) << f;
}
