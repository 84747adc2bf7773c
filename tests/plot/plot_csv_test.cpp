// The data behind each figure (plot.h plot_csv), written by save_plot next
// to its PNG, so users can re-plot: exact rows, RFC 4180 quoting.
#include <gtest/gtest.h>

#include <filesystem>

#include "sparseloop/plot/plot.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;

TEST(PlotCsv, LineChartRowsPerPointAndReferences) {
  LineChart c;
  c.series.push_back({"PSNR, test", {1, 2}, {20.5, std::nan("")}});
  c.series.push_back({"say \"hi\"", {3}, {0.125}});
  c.references.push_back({18.0, "paper", true});
  c.references.push_back({0.1, "trained λ", false});
  EXPECT_EQ(plot_csv(c),
            "series,x,y\r\n"
            "\"PSNR, test\",1,20.5\r\n"
            "\"PSNR, test\",2,nan\r\n"
            "\"say \"\"hi\"\"\",3,0.125\r\n"
            "reference: paper,,18\r\n"
            "reference: trained λ,0.1,\r\n");
}

TEST(PlotCsv, BarsHeatmapAndScatterFit) {
  BarChart b;
  b.categories = {"σ=0.1", "σ=0.2"};
  b.series.push_back({"SDNet", {91.5, 80}, {0.5, 1}});
  b.series.push_back({"ResNet", {46, std::nan("")}, {}});
  EXPECT_EQ(plot_csv(b),
            "category,series,value,error\r\n"
            "σ=0.1,SDNet,91.5,0.5\r\nσ=0.2,SDNet,80,1\r\n"
            "σ=0.1,ResNet,46,\r\nσ=0.2,ResNet,nan,\r\n");
  Heatmap h;
  h.values = torch::tensor({{1.0, 2.0}, {3.0, 0.5}});
  EXPECT_EQ(plot_csv(h), "col0,col1\r\n1,2\r\n3,0.5\r\n");
  ScatterFit s;
  s.xs = {0, 1, 2};
  s.ys = {1, 3, 5};  // y = 2x + 1 exactly
  EXPECT_EQ(plot_csv(s), "series,x,y\r\ndata,0,1\r\ndata,1,3\r\ndata,2,5\r\nfit,0,1\r\nfit,2,5\r\n");
}

TEST(PlotCsv, SavePlotWritesThePngAndItsCsv) {
  ts::TempDir dir;
  LineChart c;
  c.series.push_back({"a", {1, 2, 3}, {1, 4, 9}});
  save_plot(dir.file("curve.png"), c);
  EXPECT_TRUE(std::filesystem::exists(dir.file("curve.png")));
  EXPECT_EQ(read_file(dir.file("curve.csv")), plot_csv(c));
  EXPECT_EQ(csv_path("/x/y.png"), "/x/y.csv");
  EXPECT_EQ(csv_path("/x/y"), "/x/y.csv");
}
