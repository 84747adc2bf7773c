// CSC-CTRL through the built binary: train → eval → reconstruct → report on
// MNIST-format files, resume, and bad input. Tiny sizes: this checks the
// plumbing and the files a user gets, not the quality (docs/results.md).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sparseloop/io/safetensors.h"
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

TEST(CtrlCommand, CollapsingGameRollsBackToTheBestCheckpointAndLowersTheLearningRate) {
  // A validation metric that falls more than --rollback-drop below its best
  // is a collapse: the weights, BN statistics and Adam moments return to the
  // best checkpoint's and the learning rate is halved, at most
  // --max-rollbacks times. A drop of 1e-9 and a large learning rate make any
  // fall count, so the tiny run below is bound to show one.
  ts::TempDir dir;
  const std::string data = dir.file("mnist"), run = dir.file("run");
  fs::create_directories(data);
  td::write_bar_digits(data, 120, 40, false);
  setenv("SPARSELOOP_DATA", dir.path().c_str(), 1);
  auto r = ts::run_cli("train --preset mnist-csc-ctrl --out " + run + " --threads 1 --data-dir " +
                       data +
                       " --width 4 --batch-size 20 --val-size 20 --classifier-epochs 1 "
                       "--lr 0.05 --max-steps 10 --eval-every 1 --keep-checkpoints 20 "
                       "--best-metric psnr --max-rollbacks 1 --rollback-drop 1e-9");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  int64_t rollback_step = -1, best_step = -1, rollbacks = 0;
  double best = -1e300;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("psnr")) continue;
    if (j.contains("rollback")) {
      ++rollbacks;
      rollback_step = j["step"].get<int64_t>();
      EXPECT_LT(j["psnr"].get<double>(), best) << line;
      continue;
    }
    if (rollback_step < 0 && j["psnr"].get<double>() > best) {
      best = j["psnr"].get<double>();
      best_step = j["step"].get<int64_t>();
    }
  }
  ASSERT_EQ(rollbacks, 1) << "no collapse seen in 10 steps at lr 0.05; " << r.err;
  EXPECT_NE(r.err.find("collapse at step " + std::to_string(rollback_step)), std::string::npos)
      << r.err;
  // The checkpoint written at the collapse's validation holds the weights of
  // the best one before it, and its state the halved learning rate.
  char name[32];
  auto ckpt = [&](int64_t step) {
    std::snprintf(name, sizeof name, "/checkpoints/step-%08lld", static_cast<long long>(step));
    return run + name;
  };
  auto after = sparseloop::load_safetensors(ckpt(rollback_step) + "/model.safetensors");
  auto before = sparseloop::load_safetensors(ckpt(best_step) + "/model.safetensors");
  ASSERT_EQ(after.tensors.size(), before.tensors.size());
  for (const auto& [key, t] : before.tensors) EXPECT_TRUE(torch::equal(t, after.get(key))) << key;
  auto state = read_json(ckpt(rollback_step) + "/state.json");
  EXPECT_EQ(state["extra"]["rollbacks"], 1) << state.dump();
  EXPECT_DOUBLE_EQ(state["extra"]["lr_scale"].get<double>(), 0.5) << state.dump();

  // Nonsense values are refused by name before any training.
  for (const char* bad : {"--max-rollbacks -1", "--rollback-lr-factor 0", "--sample-weight -1",
                          "--best-metric loss", "--pixel-weight -2"}) {
    r = ts::run_cli("train --preset mnist-csc-ctrl --threads 1 --max-steps 1 --out " +
                    dir.file("bad") + " " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find(std::string(bad).substr(0, std::string(bad).find(' '))),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(fs::exists(dir.file("bad") + "/checkpoints")) << bad;
  }
}
