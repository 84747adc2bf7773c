// End-to-end: `sparseloop train/eval/robust/report` for the SDNet family
// through the built binary, on a few digits written as MNIST IDX files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sparseloop/data/mnist.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;
using ts::run_cli;

namespace {

/// A folder with tiny MNIST-format files: two classes (a bright left or right
/// half) of 28×28 digits-to-be, 48 train / 24 test.
void write_tiny_mnist(const std::string& dir) {
  torch::manual_seed(0);
  auto make = [](int64_t n) {
    auto labels = torch::arange(n, torch::kLong) % 2;
    auto x = torch::rand({n, 1, 28, 28}) * 0.3;
    for (int64_t i = 0; i < n; ++i) {
      if (labels[i].item<int64_t>() == 0) x[i][0].narrow(1, 0, 14).add_(0.6);
      else x[i][0].narrow(1, 14, 14).add_(0.6);
    }
    return std::make_pair((x.clamp(0, 1) * 255).to(torch::kUInt8), labels);
  };
  auto [tx, ty] = make(48);
  auto [vx, vy] = make(24);
  write_idx_images(dir + "/train-images-idx3-ubyte", tx);
  write_idx_labels(dir + "/train-labels-idx1-ubyte", ty);
  write_idx_images(dir + "/t10k-images-idx3-ubyte", vx);
  write_idx_labels(dir + "/t10k-labels-idx1-ubyte", vy);
}

/// The error line of a failed command (stderr's first line).
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

class SdnetCommands : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ts::TempDir();
    write_tiny_mnist(dir_->path());
    run_ = dir_->file("run");
    auto r = run_cli("train --model sdnet18 --data mnist --data-dir " + dir_->path() +
                     " --out " + run_ + " --max-steps 4 --batch-size 16 --width 4"
                     " --threads 1 --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    train_ = nlohmann::json::parse(r.out);
  }
  static void TearDownTestSuite() { delete dir_; }
  static ts::TempDir* dir_;
  static std::string run_;
  static nlohmann::json train_;
};
ts::TempDir* SdnetCommands::dir_ = nullptr;
std::string SdnetCommands::run_;
nlohmann::json SdnetCommands::train_;

}  // namespace

TEST_F(SdnetCommands, TrainWritesTheRunFolder) {
  EXPECT_EQ(train_["steps"], 4);
  EXPECT_TRUE(train_["last"].contains("top1"));
  EXPECT_TRUE(train_["last"].contains("top5"));
  for (const char* f : {"config.toml", "metrics.jsonl", "model.safetensors", "training_curves.png",
                        "checkpoints/best/model.safetensors"})
    EXPECT_TRUE(file_exists(run_ + "/" + f)) << f;
}

TEST_F(SdnetCommands, EvalPrintsTopOneTopFiveLoss) {
  auto r = run_cli("eval --run " + run_ + " --threads 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"top1", "top5", "loss"}) EXPECT_TRUE(j[k].is_number()) << k;
  EXPECT_EQ(j["samples"], 24);
  // The best checkpoint (the default) and the final weights, with their
  // stored step sizes, reproduce their validations of the training run.
  nlohmann::json best_val, last_val;
  for (const auto& rec : read_metrics(run_))
    if (rec.value("split", "") == "val") {
      if (rec["step"] == train_["best_step"]) best_val = rec;
      last_val = rec;
    }
  ASSERT_FALSE(best_val.is_null());
  EXPECT_DOUBLE_EQ(j["top1"].get<double>(), best_val["top1"].get<double>());
  EXPECT_NEAR(j["loss"].get<double>(), best_val["loss"].get<double>(), 1e-9);
  auto f = run_cli("eval --run " + run_ + " --checkpoint final --threads 1 --json");
  ASSERT_EQ(f.exit_code, 0) << f.err;
  auto jf = nlohmann::json::parse(f.out);
  EXPECT_NEAR(jf["loss"].get<double>(), last_val["loss"].get<double>(), 1e-9);
  EXPECT_DOUBLE_EQ(jf["top1"].get<double>(), last_val["top1"].get<double>());
  EXPECT_DOUBLE_EQ(j["top5"].get<double>(), 100.0);  // two classes: top-k = top-2
  EXPECT_TRUE(file_exists(run_ + "/eval.json"));
}

TEST_F(SdnetCommands, RobustPrintsTheContractKeysAndFigures) {
  // The run itself as its own baseline: the same images, so the same
  // accuracies as at the default λ.
  auto r = run_cli("robust --run " + run_ + " --corruption shot --levels 30,6 --lambda 0.1:0.5:3"
                   " --calibration-size 16 --threads 1 --baseline " + run_ + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["corruption"], "shot");
  EXPECT_TRUE(j["clean_accuracy"].is_number());
  ASSERT_EQ(j["levels"].size(), 2u);
  for (const auto& l : j["levels"])
    for (const char* k : {"level", "accuracy_default_lambda", "best_lambda", "accuracy_best_lambda",
                          "selected_lambda", "accuracy_selected_lambda"})
      EXPECT_TRUE(l[k].is_number()) << k;
  EXPECT_EQ(j["levels"][0]["accuracy"].size(), 3u);
  ASSERT_EQ(j["baselines"].size(), 1u);
  const auto& b = j["baselines"][0];
  EXPECT_EQ(b["model"], "sdnet18");
  EXPECT_DOUBLE_EQ(b["clean_accuracy"].get<double>(), j["clean_accuracy"].get<double>());
  ASSERT_EQ(b["accuracy"].size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_DOUBLE_EQ(b["accuracy"][i].get<double>(),
                     j["levels"][i]["accuracy_default_lambda"].get<double>());
  for (const char* f : {"robust-shot.json", "robust-shot.png", "robust-shot-lambda.png",
                        "robust-shot-fit.png"})
    EXPECT_TRUE(file_exists(run_ + "/robust/" + f)) << f;
  auto atoms = run_cli("atoms --run " + run_ + " --threads 1 --json");
  ASSERT_EQ(atoms.exit_code, 0) << atoms.err;
  EXPECT_TRUE(file_exists(run_ + "/atoms/atoms.png"));
  auto rep = run_cli("report --run " + run_ + " --threads 1");
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  EXPECT_TRUE(file_exists(run_ + "/report.html"));
}

namespace {

struct BadCase {
  std::string args, names;  ///< the command line; what its one-line error must name
};

void expect_one_line_exit_two(const std::vector<BadCase>& cases) {
  for (const auto& c : cases) {
    auto r = run_cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(first_line(r.err).find(c.names), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.err.find("Exception raised"), std::string::npos) << r.err;
  }
}

/// A run folder with only its config (no weights): enough for the checks
/// that come before any data or weights are read.
std::string fake_run(const ts::TempDir& dir) {
  const std::string run = dir.file("fake");
  make_dirs(run);
  write_file_atomic(run + "/config.toml", "model = \"sdnet18\"\ndata = \"mnist\"\n[sdnet]\n");
  return run;
}

}  // namespace

TEST(SdnetCommandErrors, BadRobustInputIsOneLineAndExitTwo) {
  ts::TempDir dir;
  const std::string run = fake_run(dir);
  expect_one_line_exit_two({
      {"robust --run " + run + " --levels 0.1,abc", "--levels"},
      {"robust --run " + run + " --corruption shot --levels 0", "--levels"},
      {"robust --run " + run + " --lambda 0.1:1", "--lambda"},
      {"robust --run " + run + " --calibration sometimes", "--calibration"},
      {"robust --run " + run + " --cifar10c-dir " + dir.file("none"), "--cifar10c-dir"},
      {"robust --run " + run + " --corruption blur", "--corruption"},
      {"robust --run " + run + " --baseline " + dir.file("none"), "--baseline"},
  });
  // A baseline that is not a classifier.
  const std::string vdl = dir.file("vdl");
  make_dirs(vdl);
  write_file_atomic(vdl + "/config.toml", "model = \"vdl\"\ndata = \"mnist\"\n");
  expect_one_line_exit_two({{"robust --run " + run + " --baseline " + vdl, "--baseline"}});
}

TEST(SdnetCommandErrors, BadTrainEvalBenchInputIsOneLineAndExitTwo) {
  ts::TempDir dir;
  const std::string run = fake_run(dir);
  expect_one_line_exit_two({
      {"eval --run " + dir.file("missing"), "--run"},
      {"eval --run " + run + " --checkpoint latest", "--checkpoint"},
      {"eval --run " + run, "--checkpoint"},  // no weights in the run
      {"train --model sdnet50 --out " + dir.file("x"), "--model"},
      {"train --model sdnet18 --data mnist --out " + dir.file("y") +
           " --max-steps 1 --csc-lambda -1",
       "--csc-lambda"},
      {"train --model resnet18 --data cifar10 --out " + dir.file("z") + " --max-steps 1",
       "--data-dir"},
      {"bench --case sdnet-step --model sdnet50", "--model"},
      {"bench --case sdnet-step --size 4", "--size"},
  });
}

// `bench --case sdnet-step` times the model and, for an SDNet, the ResNet of
// the same depth built from the same blocks.
TEST(SdnetBench, StepJsonWithResnetBaseline) {
  auto r = run_cli("bench --case sdnet-step --model sdnet18-all --batch 2 --size 8 --width 2"
                   " --repeats 1 --device cpu --threads 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"], "sdnet18-all");
  EXPECT_EQ(j["csc_layers"], 17);  // stem + 16 block convs
  for (const char* k : {"forward_ms", "forward_backward_ms", "eval_forward_ms",
                        "images_per_second", "peak_mib", "step_time_vs_baseline"})
    EXPECT_GT(j[k].get<double>(), 0.0) << k;
  EXPECT_GT(j["power_iterations_per_step"].get<double>(), 0.0);  // the dictionaries moved
  EXPECT_GE(j["cold_restarts_per_step"].get<double>(), 0.0);
  EXPECT_EQ(j["baseline"]["model"], "resnet18");
  EXPECT_EQ(j["baseline"]["csc_layers"], 0);
  EXPECT_EQ(j["baseline"]["parameters"], j["parameters"]);  // same blocks, same weights count
  EXPECT_DOUBLE_EQ(j["step_time_vs_baseline"].get<double>(),
                   j["forward_backward_ms"].get<double>() /
                       j["baseline"]["forward_backward_ms"].get<double>());
  // The paired rounds: one round here, so the ratio is that round's.
  EXPECT_DOUBLE_EQ(j["paired_step_time_vs_baseline"].get<double>(),
                   j["paired_forward_backward_ms"].get<double>() /
                       j["paired_baseline_forward_backward_ms"].get<double>());
}
