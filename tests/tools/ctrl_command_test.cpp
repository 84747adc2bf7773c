// CSC-CTRL through the built binary: train → eval → reconstruct → report on
// MNIST-format files, resume, and bad input. Tiny sizes: this checks the
// plumbing and the files a user gets, not the quality (docs/results.md).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/data_files.h"
#include "support/testing.h"

namespace td = sparseloop::test_data;
namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST(CtrlCommand, TrainEvalReconstructReportAndResume) {
  ts::TempDir dir;
  const std::string data = dir.file("mnist"), run = dir.file("run");
  fs::create_directories(data);
  td::write_bar_digits(data, 120, 40, false);
  setenv("SPARSELOOP_DATA", dir.path().c_str(), 1);  // the judge's cache goes here
  const std::string common = " --threads 1 --data-dir " + data +
                             " --width 4 --batch-size 20 --val-size 20 --classifier-epochs 1";
  auto r = ts::run_cli("train --preset mnist-csc-ctrl --out " + run + common +
                       " --max-steps 2 --eval-every 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto summary = nlohmann::json::parse(r.out);
  EXPECT_TRUE(summary.contains("best_consistency_accuracy")) << r.out;
  EXPECT_TRUE(summary["last"].contains("psnr")) << r.out;
  EXPECT_EQ(summary.value("steps", int64_t(-1)), 2);
  for (const char* f : {"config.toml", "metrics.jsonl", "model.safetensors", "model_info.json",
                        "summary.json", "checkpoints/best/model.safetensors",
                        "validation_curves.png", "validation_psnr.png"})
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;

  // Resume continues the step count instead of starting over.
  r = ts::run_cli("train --preset mnist-csc-ctrl --out " + run + common +
                  " --max-steps 4 --eval-every 2 --resume --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_json(run + "/summary.json").value("steps", int64_t(-1)), 4) << r.out;

  r = ts::run_cli("eval --threads 1 --run " + run + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto e = nlohmann::json::parse(r.out);
  for (const char* key : {"psnr", "ssim", "mse", "consistency_accuracy", "code_sparsity",
                          "nearest_subspace_accuracy"})
    EXPECT_TRUE(e.contains(key)) << key;
  EXPECT_GE(e["consistency_accuracy"].get<double>(), 0.0);
  EXPECT_LE(e["consistency_accuracy"].get<double>(), 1.0);
  EXPECT_GT(e["psnr"].get<double>(), 0.0);
  // The baselines of issue 14: more of each image known, more PSNR.
  ASSERT_TRUE(e.contains("baselines")) << r.out;
  const auto& b = e["baselines"];
  EXPECT_LT(b["mean_colour"]["psnr"].get<double>(), b["thumbnail_4"]["psnr"].get<double>());
  EXPECT_LT(b["thumbnail_4"]["psnr"].get<double>(), b["thumbnail_8"]["psnr"].get<double>());

  r = ts::run_cli("reconstruct --threads 1 --run " + run + " --count 12");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(run + "/reconstruct/reconstruct.png"));
  r = ts::run_cli("atoms --threads 1 --run " + run + " --count 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["atoms"], 3);
  EXPECT_TRUE(fs::exists(run + "/atoms/atoms.png"));
  r = ts::run_cli("report --threads 1 --run " + run);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(run + "/report.html"));
  std::ifstream in(run + "/report.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(html.find("consistency"), std::string::npos);
}

TEST(CtrlCommand, BadInputNamesTheProblemWithExitTwo) {
  ts::TempDir dir;
  auto r = ts::run_cli("eval --run " + dir.file("missing"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  r = ts::run_cli("train --preset mnist-csc-ctrl --out " + dir.file("r") +
                  " --strategy 3 --max-steps 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--strategy"), std::string::npos) << r.err;
  r = ts::run_cli("train --preset mnist-csc-ctrl --out " + dir.file("r2") +
                  " --data-dir " + dir.file("nowhere") + " --max-steps 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
}
