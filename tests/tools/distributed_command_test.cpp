// `sparseloop train --nproc N` end to end (docs/cli.md §4.13): two ranks over
// Gloo on loopback, one thread each, against one process that sees the same
// global batch; resume on another world size; a rank killed mid-run.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/fs.h"
#include "support/digits_suite.h"
#include "support/testing.h"

using namespace sparseloop;
using ts::run_cli;
namespace td = sparseloop::test_data;
namespace fs = std::filesystem;

namespace {

class DistributedTraining : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = td::digits_suite_folder(); }
  static void TearDownTestSuite() { delete dir_; }

  static std::string data() { return " --data mnist --data-dir " + dir_->file("digits"); }

  /// Trains `args` into `run` (on `nproc` ranks) and returns the final weights.
  static TensorFile train(const std::string& args, const std::string& run, int nproc,
                          const std::string& extra = "") {
    auto r = run_cli("train " + args + data() + " --out " + dir_->file(run) +
                     " --threads 1 --seed 5 --log-every 1 --nproc " + std::to_string(nproc) +
                     extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return load_safetensors(dir_->file(run + "/model.safetensors"));
  }

  /// Training losses per step from metrics.jsonl.
  static std::vector<double> losses(const std::string& run, const std::string& key) {
    std::vector<double> out;
    std::ifstream in(dir_->file(run + "/metrics.jsonl"));
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      if (j.value("split", "") == "train" && j.contains(key)) out.push_back(j[key].get<double>());
    }
    return out;
  }

  /// Largest |a − b| over every tensor both files hold, relative to max |a|
  /// or 1, whichever is larger (a bias that training moved from 0 by 1e-3 has
  /// float32 rounding of 1e-6 from the other order of summation), and the
  /// tensor it is reached at in `worst_name`.
  static double relative_difference(const TensorFile& a, const TensorFile& b,
                                    std::string* worst_name = nullptr) {
    double worst = 0;
    for (const auto& [name, tensor] : a.tensors) {
      if (name.rfind("rng.", 0) == 0 || !b.contains(name)) continue;
      const auto x = tensor.to(torch::kDouble);
      const auto y = b.get(name).to(torch::kDouble);
      if (x.sizes() != y.sizes() || x.numel() == 0) continue;
      const double scale = std::max(x.abs().max().item<double>(), 1.0);
      const double d = (x - y).abs().max().item<double>() / scale;
      if (d > worst && worst_name) *worst_name = name;
      worst = std::max(worst, d);
    }
    return worst;
  }

  static void expect_same_losses(const std::vector<double>& a, const std::vector<double>& b,
                                 double tolerance) {
    ASSERT_EQ(a.size(), b.size());
    ASSERT_FALSE(a.empty());
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_NEAR(a[i], b[i], tolerance * std::max(1.0, std::abs(a[i]))) << "step " << i + 1;
  }

  static ts::TempDir* dir_;
};
ts::TempDir* DistributedTraining::dir_ = nullptr;

}  // namespace

// SDNet with SGD: two ranks with synchronized BatchNorm and summed gradients
// take the steps one process takes on the whole batch (12 = 6 + 6 images).
TEST_F(DistributedTraining, SdnetOnTwoRanksEqualsOneProcess) {
  const std::string args = "--model sdnet18 --width 4 --batch-size 12 --max-steps 3 --test-limit 12";
  auto one = train(args, "sdnet1", 1);
  auto two = train(args, "sdnet2", 2);
  expect_same_losses(losses("sdnet1", "loss"), losses("sdnet2", "loss"), 1e-5);
  // float32: one process on 2 threads instead of 1 differs from itself by as
  // much (running variances of near-constant channels amplify the rounding).
  std::string worst;
  EXPECT_LT(relative_difference(one, two, &worst), 1e-3) << worst;
}

// CSC-CTRL: ΔR over the gathered global batch, synchronized BatchNorm, both
// players' gradients summed; unequal shards (13 = 7 + 6 images), augmented
// (each rank draws the whole batch's symmetries and keeps its shard).
TEST_F(DistributedTraining, CscCtrlOnTwoRanksEqualsOneProcess) {
  const std::string args =
      "--preset mnist-csc-ctrl --width 4 --batch-size 13 --max-steps 3 --eval-every 3"
      " --val-size 20 --classifier-epochs 1 --augment dihedral";
  train(args, "ctrl1", 1);
  train(args, "ctrl2", 2);
  expect_same_losses(losses("ctrl1", "delta_r"), losses("ctrl2", "delta_r"), 1e-4);
  expect_same_losses(losses("ctrl1", "enc_delta_r"), losses("ctrl2", "enc_delta_r"), 1e-4);
}

// VDL: the variance hinge of FISTA's energy over the global batch (every
// rank's inference couples through it) and the two players' gradients summed.
TEST_F(DistributedTraining, VdlOnTwoRanksEqualsOneProcess) {
  const std::string args = "--preset mnist-vdl --batch-size 20 --max-steps 3 --train-limit 60";
  train(args, "vdl1", 1);
  train(args, "vdl2", 2);
  expect_same_losses(losses("vdl1", "rec_loss"), losses("vdl2", "rec_loss"), 1e-4);
  expect_same_losses(losses("vdl1", "inference_steps"), losses("vdl2", "inference_steps"), 1e-9);
}

// Checkpoints do not depend on the world size: CSC-CTRL (its learning rate
// is constant, so a shorter run is a prefix of a longer one) on two ranks for
// 2 steps, then one process to step 4, ends where one process alone does.
TEST_F(DistributedTraining, ARunOfTwoRanksResumesOnOne) {
  const std::string args =
      "--preset mnist-csc-ctrl --width 4 --batch-size 13 --eval-every 2 --val-size 20"
      " --classifier-epochs 1";
  auto alone = train(args, "whole", 1, " --max-steps 4");
  train(args, "split", 2, " --max-steps 2");
  auto resumed = train(args, "split", 1, " --max-steps 4 --resume");
  std::string worst;
  EXPECT_LT(relative_difference(alone, resumed, &worst), 1e-3) << worst;
  expect_same_losses(losses("whole", "delta_r"), losses("split", "delta_r"), 1e-4);
}

// A rank killed mid-run: the launcher stops the other one at once and says
// which rank died and how far each got; the exit code is not 0.
TEST_F(DistributedTraining, AKilledRankStopsTheRunWithOneLine) {
  const std::string run = dir_->file("killed");
  const std::string err = dir_->file("killed.err");
  const std::string cmd = std::string(SPARSELOOP_CLI_PATH) +
                          " train --model sdnet18 --width 4 --batch-size 12 --max-steps 100000"
                          " --test-limit 12 --eval-every 1000 --checkpoint-every 2 --threads 1 --dist-timeout 30"
                          " --nproc 2 --out " + run + data() + " 2>" + err;
  const pid_t launcher = fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for training to run, then kill rank 1 (the launcher's second child).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  pid_t rank1 = -1;
  while (std::chrono::steady_clock::now() < deadline && rank1 < 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!file_exists(run + "/metrics.jsonl") || fs::file_size(run + "/metrics.jsonl") < 200) continue;
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream env(e.path() / "environ");
      std::string all((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
      if (all.find(std::string("\0RANK=1\0", 8)) != std::string::npos) {
        std::ifstream cmdline(e.path() / "cmdline");
        std::string c((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
        if (c.find(run) != std::string::npos) rank1 = std::stoi(name);
      }
    }
  }
  ASSERT_GT(rank1, 0) << "rank 1 not found";
  const auto killed_at = std::chrono::steady_clock::now();
  kill(rank1, SIGKILL);
  int status = 0;
  waitpid(launcher, &status, 0);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  EXPECT_LT(seconds, 20.0);  // well within --dist-timeout: the launcher stops the other rank
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  const std::string text = read_file(err);
  EXPECT_NE(text.find("error: rank 1 was killed by signal 9"), std::string::npos) << text;
  // How far each rank got, from the steps they reported to the launcher's store.
  EXPECT_TRUE(std::regex_search(text, std::regex("rank 0 at step [0-9]+, rank 1 at step [0-9]+")))
      << text;
  // Rank 0 wrote every checkpoint whole (atomically): the newest one is complete.
  std::string newest;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints"))
    if (e.path().filename().string().rfind("step-", 0) == 0)
      newest = std::max(newest, e.path().string());
  ASSERT_FALSE(newest.empty());
  EXPECT_TRUE(fs::exists(newest + "/state.json"));
  EXPECT_NO_THROW(load_safetensors(newest + "/model.safetensors"));
}

// Bad distributed flags are refused before any rank starts; a rank whose
// peers never come says where it waited and for how long (exit 2, one line).
TEST_F(DistributedTraining, BadFlagsAndAMissingPeerExitTwoWithOneLine) {
  const std::string args = "train --model sdnet18 --width 4 --max-steps 1" + data();
  auto bad = run_cli(args + " --out " + dir_->file("bad1") + " --nproc 2 --backend mpi");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--backend 'mpi': expected gloo, nccl or auto"), std::string::npos)
      << bad.err;
  bad = run_cli(args + " --out " + dir_->file("bad2") + " --nproc 2 --dist-init /no/scheme");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--dist-init '/no/scheme'"), std::string::npos) << bad.err;
  // Rank 1 of 2 with no rank 0 to host the store (the launcher's variables,
  // inherited by the command).
  const std::string port = std::to_string(29000 + getpid() % 1000);
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", port.c_str(), 1);
  auto lonely = run_cli(args + " --out " + dir_->file("bad3") + " --dist-timeout 2");
  for (const char* v : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(v);
  EXPECT_EQ(lonely.exit_code, 2);
  EXPECT_NE(lonely.err.find("error (rank 1): no rendezvous at 127.0.0.1:"), std::string::npos)
      << lonely.err;
  EXPECT_NE(lonely.err.find("within --dist-timeout 2 s"), std::string::npos) << lonely.err;
}
