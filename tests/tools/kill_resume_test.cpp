// Runs that survive being killed, through the built binary: a tiny run of
// each family (1 thread, fixed seed) is SIGKILLed at random moments (early,
// mid-step, while a checkpoint is being written) and resumed each time,
// then stopped by SIGTERM (exit 143) and SIGINT (exit 130), each of which
// checkpoints first; the run must end with the files of an uninterrupted
// run, byte for byte (final model.safetensors, best/ and the kept step-*
// checkpoints). The random moments come from a fixed seed, printed on
// failure; the test passes for every seed.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/util/fs.h"
#include "support/data_files.h"
#include "support/testing.h"

namespace fs = std::filesystem;
namespace td = sparseloop::test_data;
using Clock = std::chrono::steady_clock;

namespace {

struct FamilyRun {
  const char* name;
  const char* args;  ///< everything but --data-dir and --out
};

// Eight steps, a checkpoint after each, a validation every four (which also
// writes best/): every kind of write a run makes, several times.
const FamilyRun kRuns[] = {
    {"csc_ctrl",
     "train --preset mnist-csc-ctrl --width 4 --batch-size 20 --val-size 20 --classifier-epochs 1"},
    {"sdnet", "train --model sdnet18 --data mnist --width 4 --batch-size 16"},
    {"vdl", "train --model vdl --data mnist --code-dim 16 --batch-size 40 --inference-steps 30"},
};
constexpr const char* kCommon =
    " --max-steps 8 --eval-every 4 --checkpoint-every 1 --keep-checkpoints 3 --threads 1 --seed 3";

bool has_entry(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) return true;
  return false;
}

/// Polls (every 200 µs) until `ready()` or `pid` exits or `limit` passes;
/// true when ready.
template <class F>
bool wait_until(F ready, pid_t pid, double limit) {
  const auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < limit) {
    if (ready()) return true;
    if (::waitpid(pid, nullptr, WNOHANG | WNOWAIT) == pid) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

class KillResume : public ::testing::TestWithParam<FamilyRun> {
 protected:
  void SetUp() override {
    data_ = dir_.file("mnist");
    td::write_bar_digits(data_, 120, 40);
    setenv("SPARSELOOP_DATA", dir_.path().c_str(), 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  }
  std::vector<std::string> args(const std::string& run, bool resume) const {
    return ts::split_args(std::string(GetParam().args) + kCommon + " --data-dir " + data_ +
                          " --out " + dir_.file(run) + (resume ? " --resume" : ""));
  }
  pid_t start(const std::string& run, bool resume) {
    return ts::spawn_cli(args(run, resume), dir_.file(run + ".out"), dir_.file(run + ".err"));
  }
  std::string err(const std::string& run) const { return sparseloop::read_file(dir_.file(run + ".err")); }

  ts::TempDir dir_;
  std::string data_;
};

TEST_P(KillResume, SigkillAtRandomMomentsThenResumeEndsByteIdentical) {
  const auto t0 = Clock::now();
  ASSERT_EQ(ts::wait_exit_code(start("ref", false)), 0) << err("ref");
  const double full = std::chrono::duration<double>(Clock::now() - t0).count();

  const unsigned seed = 20261202u + static_cast<unsigned>(GetParam().name[0]);
  std::mt19937 rng(seed);
  SCOPED_TRACE("random kill moments from seed " + std::to_string(seed));
  const std::string ckpt = dir_.file("killed/checkpoints");
  int kills = 0, mid_checkpoint = 0;
  for (int round = 0; round < 5; ++round) {
    const std::string before = sparseloop::latest_checkpoint(ckpt);
    // --resume once the run folder exists (a folder --resume cannot find
    // is refused as a mistyped path).
    const pid_t pid = start("killed", /*resume=*/fs::exists(dir_.file("killed")));
    if (round == 0) {
      // Anywhere early: start-up, data loading or the first steps.
      std::uniform_real_distribution<double> at(0.1 * full, 0.5 * full);
      std::this_thread::sleep_for(std::chrono::duration<double>(at(rng)));
    } else if (round % 2 == 0) {
      // Mid-step: once the resumed run has taken a step (a newer checkpoint
      // exists), within about the next step.
      wait_until([&] { return sparseloop::latest_checkpoint(ckpt) > before; }, pid, 2 * full);
      std::uniform_real_distribution<double> at(0.0, full / 10);
      std::this_thread::sleep_for(std::chrono::duration<double>(at(rng)));
    } else {
      // Mid-checkpoint: as soon as a checkpoint's temporary folder appears,
      // plus up to 3 ms (its files are being written and swapped in).
      if (wait_until([&] { return has_entry(ckpt, ".tmp-"); }, pid, 2 * full)) ++mid_checkpoint;
      std::uniform_int_distribution<int> us(0, 3000);
      std::this_thread::sleep_for(std::chrono::microseconds(us(rng)));
    }
    ::kill(pid, SIGKILL);
    const int code = ts::wait_exit_code(pid);
    if (code == 0) break;  // finished before the kill landed
    ASSERT_EQ(code, 128 + SIGKILL) << err("killed");
    ++kills;
  }
  EXPECT_GE(kills, 3);
  EXPECT_GE(mid_checkpoint, 1);
  ASSERT_EQ(ts::wait_exit_code(start("killed", true)), 0) << err("killed");
  ts::expect_same_run_files(dir_.file("ref"), dir_.file("killed"));
  // What a killed writer leaves behind is swept on resume: unfinished
  // checkpoint folders, and the temporary files of atomic writes in the run
  // folder (`config.toml.tmp-PID-N`, …).
  EXPECT_FALSE(has_entry(ckpt, ".tmp-"));
  EXPECT_FALSE(has_entry(ckpt, ".old-"));
  for (const auto& e : fs::directory_iterator(dir_.file("killed")))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST_P(KillResume, SigtermAndSigintCheckpointThenExit143And130) {
  ASSERT_EQ(ts::wait_exit_code(start("ref", false)), 0) << err("ref");
  const std::string ckpt = dir_.file("stopped/checkpoints");
  for (const auto& [signal, code] : {std::pair{SIGTERM, 143}, std::pair{SIGINT, 130}}) {
    // The signal lands once training runs (a checkpoint newer than those
    // present at the start appears), so that the handlers are in place; the
    // line they print proves it (a default disposition gives 128 + signal too).
    const std::string before = sparseloop::latest_checkpoint(ckpt);
    const pid_t pid = start("stopped", /*resume=*/signal == SIGINT);
    ASSERT_TRUE(wait_until([&] { return sparseloop::latest_checkpoint(ckpt) > before; }, pid, 120))
        << err("stopped");
    ::kill(pid, signal);
    ASSERT_EQ(ts::wait_exit_code(pid), code) << err("stopped");
    EXPECT_NE(err("stopped").find("resume with"), std::string::npos) << err("stopped");
    EXPECT_FALSE(fs::exists(dir_.file("stopped/model.safetensors")));
  }
  ASSERT_EQ(ts::wait_exit_code(start("stopped", true)), 0) << err("stopped");
  ts::expect_same_run_files(dir_.file("ref"), dir_.file("stopped"));
}

INSTANTIATE_TEST_SUITE_P(Families, KillResume, ::testing::ValuesIn(kRuns),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
