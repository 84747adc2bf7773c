// The VDL family through the built `sparseloop` binary and through
// load_vdl_data: tiny MNIST sets written byte for byte in the IDX format
// (raw and gzip), training, resume, evaluation and bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "support/data_files.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/families/vdl/trainer.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/error.h"
#include "support/testing.h"

using namespace sparseloop;
using namespace sparseloop::test_data;
using ts::run_cli;

namespace {

/// Digits-like 28×28 images: class c draws a bright bar at row 2c + 3, plus
/// a per-image stripe, so images differ and classes are separable.
uint8_t pixel(uint32_t i, uint32_t y, uint32_t x) {
  const uint32_t c = i % 10;
  if (y == 2 * c + 3 || y == 2 * c + 4) return static_cast<uint8_t>(200 + (x % 5) * 10);
  if (x == (i * 7) % 28) return 120;
  return static_cast<uint8_t>((i + y * 3 + x) % 17);
}

/// Writes train (n_train) and test (n_test) IDX files into `dir`.
void write_mnist(const std::string& dir, uint32_t n_train, uint32_t n_test, bool gz) {
  std::filesystem::create_directories(dir);
  auto labels = [](uint32_t n) {
    std::vector<uint8_t> l(n);
    for (uint32_t i = 0; i < n; ++i) l[i] = static_cast<uint8_t>(i % 10);
    return l;
  };
  auto put = [&](const std::string& name, const std::string& bytes) {
    if (gz)
      write_gz(dir + "/" + name + ".gz", bytes);
    else
      write_bytes(dir + "/" + name, bytes);
  };
  put("train-images-idx3-ubyte", idx_images(n_train, 28, 28, pixel));
  put("train-labels-idx1-ubyte", idx_labels(labels(n_train)));
  put("t10k-images-idx3-ubyte",
      idx_images(n_test, 28, 28, [](uint32_t i, uint32_t y, uint32_t x) { return pixel(i + 5, y, x); }));
  put("t10k-labels-idx1-ubyte", idx_labels(labels(n_test)));
}

const std::string kSmall =
    " --code-dim 16 --batch-size 40 --inference-steps 30 --eval-every 3 --threads 1 --seed 3";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace

// load_vdl_data on files in the real formats: the MNIST normalisation, the
// train/validation split, gzip and raw alike.
TEST(VdlData, ReadsIdxRawAndGzip) {
  ts::TempDir dir;
  write_mnist(dir.file("raw"), 200, 50, false);
  write_mnist(dir.file("gz"), 200, 50, true);
  VdlConfig c;
  c.val_fraction = 0.2;
  auto raw = load_vdl_data("mnist", dir.file("raw"), c);
  auto gz = load_vdl_data("mnist", dir.file("gz"), c);
  EXPECT_EQ(raw.train.size(), 160);
  EXPECT_EQ(raw.val.size(), 40);
  EXPECT_EQ(raw.test.size(), 50);
  EXPECT_EQ(raw.dim(), 784);
  EXPECT_TRUE(torch::equal(raw.train.x, gz.train.x));
  EXPECT_TRUE(torch::equal(raw.test.labels, gz.test.labels));
  // Test image 0 is pixel(5, y, x), normalised with (0.1307, 0.3081).
  const float expected = (pixel(5, 13, 4) / 255.0f - 0.1307f) / 0.3081f;
  EXPECT_NEAR(raw.test.x[0][13 * 28 + 4].item<float>(), expected, 1e-6);
  EXPECT_EQ(raw.test.labels[3].item<int64_t>(), 3);
  // Back to pixels.
  auto px = raw.to_pixels(raw.test.x.narrow(0, 0, 1), raw.test.narrow(0, 1));
  EXPECT_NEAR(px[0][0][13][4].item<float>(), pixel(5, 13, 4) / 255.0f, 1e-6);
  // Train and validation are disjoint and cover the training file.
  EXPECT_EQ(torch::cat({raw.train.labels, raw.val.labels}).bincount().min().item<int64_t>(), 20);
}

TEST(VdlData, RejectsMalformedIdx) {
  ts::TempDir dir;
  write_mnist(dir.path(), 100, 20, false);
  // Truncated image file: the header promises 100 images.
  auto bytes = idx_images(100, 28, 28, pixel);
  write_bytes(dir.file("train-images-idx3-ubyte"), bytes.substr(0, bytes.size() - 100));
  VdlConfig c;
  try {
    load_vdl_data("mnist", dir.path(), c);
    FAIL() << "accepted a truncated IDX file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte"), std::string::npos) << e.what();
  }
  auto r = run_cli("train --model vdl --data mnist --data-dir " + dir.path() + " --out " +
                   dir.file("run") + " --max-steps 2" + kSmall);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("train-images-idx3-ubyte"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // Wrong magic number.
  write_bytes(dir.file("train-images-idx3-ubyte"), idx_images(100, 28, 28, pixel, 0x801));
  EXPECT_THROW(load_vdl_data("mnist", dir.path(), c), InputError);
}

/// The same small run as the CLI flags in kSmall, trained in-process.
static nlohmann::json train_in_process(const std::string& data_dir, const std::string& out,
                                       int64_t steps) {
  CommonTrainConfig common;
  common.model = "vdl";
  common.data = "mnist";
  common.data_dir = data_dir;
  common.out = out;
  common.max_steps = steps;
  common.batch_size = 40;
  common.eval_every = 3;
  common.threads = 1;
  common.seed = 3;
  VdlConfig c;
  c.code_dim = 16;
  c.inference_steps = 30;
  return train_vdl(common, c);
}

TEST(VdlCommand, TrainWritesRunFolderAndRefusesReuse) {
  ts::TempDir dir;
  write_mnist(dir.file("mnist"), 240, 60, true);
  auto summary = train_in_process(dir.file("mnist"), dir.file("full"), 6);
  EXPECT_EQ(summary["steps"], 6);
  for (const char* k : {"psnr", "sparsity", "energy", "denoise_psnr", "fista_psnr"})
    EXPECT_TRUE(summary["test"].contains(k)) << k;
  for (const char* f : {"config.toml", "metrics.jsonl", "model.safetensors", "eval.json",
                        "checkpoints/best/model.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(dir.file(std::string("full/") + f))) << f;
  int vals = 0;
  for (const auto& r : read_metrics(dir.file("full"))) vals += r["split"] == "val";
  EXPECT_EQ(vals, 2);
  // A second run into the same folder without --resume is refused.
  auto again = run_cli("train --model vdl --data mnist --data-dir " + dir.file("mnist") + kSmall +
                       " --out " + dir.file("full") + " --max-steps 2");
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
}

// Interrupted after 3 steps and resumed to 6 through the CLI: the same
// weights as 6 uninterrupted steps.
TEST(VdlCommand, ResumeIsExact) {
  ts::TempDir dir;
  write_mnist(dir.file("mnist"), 240, 60, true);
  train_in_process(dir.file("mnist"), dir.file("full"), 6);
  auto first = run_cli("train --model vdl --data mnist --data-dir " + dir.file("mnist") + kSmall +
                       " --out " + dir.file("resumed") + " --max-steps 3");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto second = run_cli("train --out " + dir.file("resumed") + " --resume --max-steps 6 --threads 1");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto a = load_safetensors(dir.file("full/model.safetensors"));
  auto b = load_safetensors(dir.file("resumed/model.safetensors"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) EXPECT_TRUE(torch::equal(t, b.get(name))) << name;
}

class VdlBadInput : public ::testing::TestWithParam<std::string> {};

TEST_P(VdlBadInput, ExitsTwoWithOneLine) {
  ts::TempDir dir;
  write_mnist(dir.file("mnist"), 100, 20, false);
  std::string extra = GetParam();
  const auto at = extra.find("@");
  if (at != std::string::npos) extra.replace(at, 1, dir.path() + "/");
  auto r = run_cli("train --model vdl --out " + dir.file("r") + " --max-steps 2 --threads 1" + extra);
  EXPECT_EQ(r.exit_code, 2) << extra << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << extra << ": " << r.err;
}

INSTANTIATE_TEST_SUITE_P(Flags, VdlBadInput,
                         ::testing::Values(" --data cifar10 --data-dir @mnist",
                                           " --data mnist --data-dir @nothing-here",
                                           " --data mnist --data-dir @mnist --stop-rule sometimes",
                                           " --data mnist --data-dir @mnist --lambda -1",
                                           " --data patches --data-dir @mnist"));

// The analysis commands on one small trained run.
class VdlAnalysis : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ts::TempDir();
    write_mnist(dir_->file("mnist"), 240, 60, false);
    train_in_process(dir_->file("mnist"), dir_->file("run"), 4);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string run() { return dir_->file("run"); }
  static ts::TempDir* dir_;
};
ts::TempDir* VdlAnalysis::dir_ = nullptr;

TEST_F(VdlAnalysis, EvalWritesTheCliKeys) {
  auto r = run_cli("eval --run " + run() + " --threads 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"psnr", "sparsity", "energy", "denoise_psnr"}) {
    ASSERT_TRUE(j.contains(k)) << k;
    EXPECT_TRUE(std::isfinite(j[k].get<double>())) << k;
  }
  EXPECT_GE(j["sparsity"].get<double>(), 0.0);
  EXPECT_LE(j["sparsity"].get<double>(), 1.0);
  EXPECT_EQ(j["samples"], 60);
  EXPECT_EQ(read_json(run() + "/eval.json")["psnr"], j["psnr"]);
}

TEST_F(VdlAnalysis, AtomsArePictures) {
  auto a = run_cli("atoms --run " + run() + " --threads 1 --json --out " + dir_->file("atoms"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["atoms"], 16);
  EXPECT_GT(std::filesystem::file_size(dir_->file("atoms/atoms.png")), 100u);
}

TEST_F(VdlAnalysis, ReconstructionsArePictures) {
  auto r = run_cli("reconstruct --run " + run() + " --threads 1 --count 5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["count"], 5);
  EXPECT_TRUE(std::filesystem::exists(run() + "/reconstruct/reconstructions.png"));
}

TEST_F(VdlAnalysis, DenoiseTablePerLambda) {
  auto r = run_cli("denoise --run " + run() + " --threads 1 --sigma 1 --lambda 0.01,0.1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_TRUE(j["encoder"].contains("ssim"));
  EXPECT_LT(j["noisy"]["psnr"].get<double>(), 20.0);
  // A larger test-time λ gives sparser FISTA codes.
  EXPECT_GT(j["rows"][1]["sparsity"].get<double>(), j["rows"][0]["sparsity"].get<double>());
  EXPECT_TRUE(std::filesystem::exists(run() + "/denoise/denoise.png"));
  EXPECT_TRUE(std::filesystem::exists(run() + "/denoise/denoise_examples.png"));
}

TEST_F(VdlAnalysis, BadListsAndCheckpointsExitTwo) {
  auto bad = run_cli("denoise --run " + run() + " --threads 1 --lambda 0.1,abc");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--lambda"), std::string::npos) << bad.err;
  auto missing = run_cli("eval --run " + run() + " --checkpoint step-99999999 --threads 1");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("step-99999999"), std::string::npos) << missing.err;
}

TEST_F(VdlAnalysis, ProbeComparesCodesWithPixels) {
  auto r = run_cli("probe --run " + run() + " --threads 1 --shots 1,5 --epochs 5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rows"].size(), 2u);
  for (const auto& row : j["rows"])
    for (const char* f : {"codes", "pixels"}) {
      EXPECT_GE(row[f]["top3"].get<double>(), row[f]["top1"].get<double>());
      EXPECT_LE(row[f]["top3"].get<double>(), 1.0);
    }
}

TEST_F(VdlAnalysis, ReportIsOneHtmlFile) {
  auto r = run_cli("report --run " + run() + " --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(std::filesystem::file_size(run() + "/report.html"), 1000u);
}

// `sparseloop sweep`: one run per λ, a table and a plot; a second call reuses the runs.
TEST(VdlSweep, TrainsOneRunPerLambdaAndPlots) {
  ts::TempDir dir;
  write_mnist(dir.file("mnist"), 160, 40, false);
  const std::string cmd = "sweep --models vdl --data mnist --data-dir " + dir.file("mnist") +
                          " --lambda 0.01,0.1 --max-steps 2 --option code-dim=8 --option "
                          "batch-size=40 --option inference-steps=10 --threads 1 --out " +
                          dir.file("sweep") + " --json";
  auto r = run_cli(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["results"][1]["lambda"].get<double>(), 0.1);
  EXPECT_TRUE(std::filesystem::exists(dir.file("sweep/sweep.png")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("sweep/vdl-lambda-0.1/eval.json")));
  auto again = run_cli(cmd);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("reusing"), std::string::npos);
  auto bad = run_cli("sweep --models vdl --option nokey --out " + dir.file("x"));
  EXPECT_EQ(bad.exit_code, 2);
}
