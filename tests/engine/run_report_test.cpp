// The report and curves every family's runs get (engine/run_report.h).
#include "sparseloop/engine/run_report.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

std::string fake_run(const ts::TempDir& dir) {
  const std::string run = dir.file("run");
  make_dirs(run + "/analysis");
  make_dirs(run + "/checkpoints/best");
  write_file_atomic(run + "/config.toml", "model = \"toy\"\n");
  std::string metrics;
  for (int s = 1; s <= 5; ++s) {
    metrics += "{\"split\": \"train\", \"step\": " + std::to_string(s) +
               ", \"loss\": " + std::to_string(1.0 / s) + "}\n";
    if (s % 2 == 0)
      metrics += "{\"split\": \"val\", \"step\": " + std::to_string(s) + ", \"acc\": 0.5}\n";
  }
  write_file_atomic(run + "/metrics.jsonl", metrics);
  write_file_atomic(run + "/eval.json", "{\"acc\": 0.75}");
  // A figure an analysis wrote, and one inside a checkpoint (never shown).
  write_file_atomic(run + "/analysis/extra.png", read_file(SPARSELOOP_SOURCE_DIR "/docs/figures/csc_ctrl_mnist_reconstruct.png"));
  write_file_atomic(run + "/checkpoints/best/hidden.png",
                    read_file(run + "/analysis/extra.png"));
  return run;
}

}  // namespace

TEST(RunReport, CurvesFromMetricsAndOneSelfContainedReport) {
  ts::TempDir dir;
  const std::string run = fake_run(dir);
  const std::vector<CurvePanel> panels = {
      {"training_loss", "Loss", "loss", {{"train", "loss", "train"}}, true},
      {"validation_acc", "Accuracy", "acc", {{"val", "acc", "val"}}},
      {"empty_panel", "Nothing", "x", {{"val", "missing", "none"}}}};
  auto written = write_training_curves(run, panels);
  ASSERT_EQ(written.size(), 2u);  // the panel without data is skipped
  EXPECT_TRUE(std::filesystem::exists(run + "/training_loss.png"));
  EXPECT_FALSE(std::filesystem::exists(run + "/empty_panel.png"));
  RunReportSpec spec;
  spec.title = "Toy run";
  spec.curves = panels;
  bool saw_eval = false;
  spec.results = [&](Report& r, const nlohmann::json& e) {
    saw_eval = !e.is_null() && e["acc"] == 0.75;
    r.paragraph("results here");
  };
  spec.caption = [](const std::string& stem) { return stem == "extra" ? "An extra figure" : ""; };
  const std::string path = write_run_report(run, "", spec);
  EXPECT_EQ(path, run + "/report.html");
  EXPECT_TRUE(saw_eval);
  const std::string html = read_file(path);
  EXPECT_NE(html.find("Toy run"), std::string::npos);
  EXPECT_NE(html.find("An extra figure"), std::string::npos);
  EXPECT_NE(html.find("results here"), std::string::npos);
  EXPECT_EQ(html.find("hidden"), std::string::npos);  // checkpoints' files stay out
  // Two curves and the extra figure, each embedded once.
  size_t images = 0;
  for (size_t at = html.find("data:image/png;base64,"); at != std::string::npos;
       at = html.find("data:image/png;base64,", at + 1))
    ++images;
  EXPECT_EQ(images, 3u);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // nothing from the network
  // Another folder when asked.
  EXPECT_EQ(write_run_report(run, dir.file("out"), spec), dir.file("out") + "/report.html");
}
