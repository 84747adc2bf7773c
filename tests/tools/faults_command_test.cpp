// Faults of the environment a long run meets, through the built binary
// (docs/reliability.md): a full disk while checkpointing, a run folder it
// cannot write, a diverging step (NaN/Inf planted by SPARSELOOP_INJECT_NAN)
// and a damaged newest checkpoint. Each must end in one line naming the
// problem, and leave the newest good checkpoint usable.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/fs.h"
#include "support/data_files.h"
#include "support/testing.h"

namespace fs = std::filesystem;
namespace td = sparseloop::test_data;
using sparseloop::read_file;

namespace {

const std::string kVdl =
    "train --model vdl --data mnist --code-dim 16 --batch-size 40 --inference-steps 30"
    " --threads 1 --seed 3 --checkpoint-every 1 --eval-every 100";

/// The lines of `err` that report an error (progress lines aside).
std::vector<std::string> error_lines(const std::string& err) {
  std::vector<std::string> out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("error", 0) == 0) out.push_back(line);
  return out;
}

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("mnist");
    td::write_bar_digits(data_, 120, 40);
    setenv("SPARSELOOP_DATA", dir_.path().c_str(), 1);
    setenv("OMP_NUM_THREADS", "1", 1);
  }
  /// Runs `args` (plus the data folder) to the end: exit code, stderr in err_.
  int run(const std::string& args, void (*in_child)() = nullptr) {
    const pid_t pid = ts::spawn_cli(ts::split_args(args + " --data-dir " + data_),
                                    dir_.file("out"), dir_.file("err"), in_child);
    const int code = ts::wait_exit_code(pid);
    err_ = read_file(dir_.file("err"));
    return code;
  }

  ts::TempDir dir_;
  std::string data_, err_;
};

// The child's file-size limit (RLIMIT_FSIZE), set between fork and exec.
rlim_t g_file_limit = 0;
void limit_file_size() {
  struct rlimit r {g_file_limit, g_file_limit};
  ::setrlimit(RLIMIT_FSIZE, &r);
}

// The disk fills up while a checkpoint is written (RLIMIT_FSIZE below the
// size of a checkpoint's weights: its write fails with EFBIG, as with
// ENOSPC). One error line naming the checkpoint and the reason, exit 1, the
// previous checkpoint byte for byte as it was, no half-written folder.
TEST_F(Faults, FullDiskWhileCheckpointingKeepsThePreviousCheckpoint) {
  const std::string out = dir_.file("run"), ckpt = out + "/checkpoints";
  ASSERT_EQ(run(kVdl + " --out " + out + " --max-steps 2"), 0) << err_;
  const std::string before = read_file(ckpt + "/step-00000002/model.safetensors");
  const std::string state = read_file(ckpt + "/step-00000002/state.json");
  g_file_limit = before.size() / 2;
  const int code = run(kVdl + " --out " + out + " --max-steps 4 --resume", limit_file_size);
  EXPECT_EQ(code, 1) << err_;
  const auto lines = error_lines(err_);
  ASSERT_EQ(lines.size(), 1u) << err_;
  EXPECT_NE(lines[0].find(ckpt + "/step-00000003"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("File too large"), std::string::npos) << lines[0];
  EXPECT_EQ(sparseloop::latest_checkpoint(ckpt), "step-00000002");
  EXPECT_TRUE(read_file(ckpt + "/step-00000002/model.safetensors") == before);
  EXPECT_EQ(read_file(ckpt + "/step-00000002/state.json"), state);
  for (const auto& e : fs::directory_iterator(ckpt))
    EXPECT_NE(e.path().filename().string().rfind(".tmp-", 0), 0u) << e.path();
  // With room again, the run resumes from it and finishes.
  EXPECT_EQ(run(kVdl + " --out " + out + " --max-steps 4 --resume"), 0) << err_;
}

// A run folder that cannot be written: exit 2 before any training, one line
// naming the folder. (Root writes anywhere, so a read-only folder is tried
// only for other users; a path through a regular file fails for everyone.)
TEST_F(Faults, UnwritableRunFolderExitsTwoBeforeTraining) {
  const std::string file = dir_.file("a-file");
  std::ofstream(file) << "x";
  std::vector<std::string> outs = {file + "/run"};
  if (::geteuid() != 0) {
    fs::create_directories(dir_.file("readonly"));
    fs::permissions(dir_.file("readonly"), fs::perms::owner_read | fs::perms::owner_exec);
    outs.push_back(dir_.file("readonly/run"));
  }
  for (const auto& out : outs) {
    EXPECT_EQ(run(kVdl + " --out " + out + " --max-steps 2"), 2) << err_;
    const auto lines = error_lines(err_);
    ASSERT_EQ(lines.size(), 1u) << err_;
    EXPECT_NE(lines[0].find(out), std::string::npos) << lines[0];
    EXPECT_EQ(err_.find("train "), std::string::npos) << "training started: " << err_;
  }
}

// NaN/Inf in a loss, a gradient or a weight: the run stops at that step with
// one line naming the step and the term, exit 1; the newest checkpoint is the
// step before, with finite weights, and --resume (without the fault) goes on.
TEST_F(Faults, NonFiniteLossGradientOrWeightStopsNamingStepAndTerm) {
  for (const char* term : {"loss", "grad", "weight"}) {
    SCOPED_TRACE(term);
    const std::string out = dir_.file(std::string("run-") + term);
    setenv("SPARSELOOP_INJECT_NAN", (std::string(term) + "@3").c_str(), 1);
    const int code = run(kVdl + " --out " + out + " --max-steps 5");
    unsetenv("SPARSELOOP_INJECT_NAN");
    EXPECT_EQ(code, 1) << err_;
    const auto lines = error_lines(err_);
    ASSERT_EQ(lines.size(), 1u) << err_;
    EXPECT_NE(lines[0].find("diverged at step 3"), std::string::npos) << lines[0];
    const std::string named = std::string(term) == "grad"     ? "the gradient of "
                              : std::string(term) == "weight" ? "weight "
                                                              : "";
    EXPECT_NE(lines[0].find(named), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("step-00000002"), std::string::npos) << lines[0];
    EXPECT_EQ(sparseloop::latest_checkpoint(out + "/checkpoints"), "step-00000002");
    const auto saved =
        sparseloop::load_safetensors(out + "/checkpoints/step-00000002/model.safetensors");
    for (const auto& [name, t] : saved.tensors)
      if (t.is_floating_point()) {
        EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
      }
    EXPECT_EQ(run(kVdl + " --out " + out + " --max-steps 5 --resume"), 0) << err_;
  }
}

// The newest checkpoint damaged (truncated weights; garbage state.json):
// --resume says so and goes on from the one before, ending exactly where an
// uninterrupted run ends.
TEST_F(Faults, DamagedNewestCheckpointResumesFromThePreviousOne) {
  ASSERT_EQ(run(kVdl + " --out " + dir_.file("ref") + " --max-steps 4"), 0) << err_;
  const std::string ref = read_file(dir_.file("ref/model.safetensors"));
  for (const char* damage : {"model.safetensors", "state.json"}) {
    SCOPED_TRACE(damage);
    const std::string out = dir_.file(std::string("run-") + damage), ckpt = out + "/checkpoints";
    ASSERT_EQ(run(kVdl + " --out " + out + " --max-steps 3"), 0) << err_;
    std::ofstream(ckpt + "/step-00000003/" + damage, std::ios::trunc) << "{\"step\": [";
    ASSERT_EQ(run(kVdl + " --out " + out + " --max-steps 4 --resume"), 0) << err_;
    EXPECT_NE(err_.find("step-00000003 is damaged"), std::string::npos) << err_;
    EXPECT_NE(err_.find("resuming from step-00000002"), std::string::npos) << err_;
    EXPECT_TRUE(read_file(out + "/model.safetensors") == ref) << "differs from the reference";
  }
  // Every checkpoint damaged: exit 2, naming the newest.
  const std::string out = dir_.file("run-all");
  ASSERT_EQ(run(kVdl + " --out " + out + " --max-steps 2"), 0) << err_;
  for (const char* s : {"step-00000001", "step-00000002"})
    std::ofstream(out + "/checkpoints/" + s + "/state.json", std::ios::trunc) << "[]";
  EXPECT_EQ(run(kVdl + " --out " + out + " --max-steps 4 --resume"), 2) << err_;
  const auto lines = error_lines(err_);
  ASSERT_EQ(lines.size(), 1u) << err_;
  EXPECT_NE(lines[0].find("step-00000002/state.json"), std::string::npos) << lines[0];
}

// A damaged field of state.json's `extra` (what the loop and the family read
// on resume: VDL's patience count and best energy, the last validation) makes
// the checkpoint damaged like any other damage: --resume names the file and
// the field and goes on from the checkpoint before; when none is left,
// exit 2 naming it. Nlohmann's type_error (exit 1) never escapes.
TEST_F(Faults, DamagedStateExtraFieldIsADamagedCheckpoint) {
  ASSERT_EQ(run(kVdl + " --out " + dir_.file("ref") + " --max-steps 4"), 0) << err_;
  const std::string ref = read_file(dir_.file("ref/model.safetensors"));
  auto damage = [](const std::string& state, const char* key, const nlohmann::json& value) {
    auto j = nlohmann::json::parse(read_file(state));
    j["extra"][key] = value;
    std::ofstream(state, std::ios::trunc) << j.dump(2);
  };
  const std::string out = dir_.file("run"), ckpt = out + "/checkpoints";
  ASSERT_EQ(run(kVdl + " --out " + out + " --max-steps 3"), 0) << err_;
  damage(ckpt + "/step-00000003/state.json", "stale_validations", "three");
  ASSERT_EQ(run(kVdl + " --out " + out + " --max-steps 4 --resume"), 0) << err_;
  EXPECT_NE(err_.find("step-00000003 is damaged"), std::string::npos) << err_;
  EXPECT_NE(err_.find("step-00000003/state.json: damaged ('extra.stale_validations'"),
            std::string::npos)
      << err_;
  EXPECT_TRUE(read_file(out + "/model.safetensors") == ref) << "differs from the reference";
  // Every checkpoint damaged (a best energy that is text; a last validation
  // that is not a record): exit 2 naming the newest and its field.
  const std::string all = dir_.file("run-all");
  ASSERT_EQ(run(kVdl + " --out " + all + " --max-steps 2"), 0) << err_;
  damage(all + "/checkpoints/step-00000001/state.json", "last_validation", 7);
  damage(all + "/checkpoints/step-00000002/state.json", "vdl_best_energy", "low");
  EXPECT_EQ(run(kVdl + " --out " + all + " --max-steps 4 --resume"), 2) << err_;
  const auto lines = error_lines(err_);
  ASSERT_EQ(lines.size(), 1u) << err_;
  EXPECT_NE(lines[0].find("step-00000002/state.json: damaged ('extra.vdl_best_energy'"),
            std::string::npos)
      << lines[0];
}

// A run SIGKILLed in the middle of an atomic write leaves its temporary
// file (`config.toml.tmp-PID-N`) in the run folder; the next start removes
// those of dead processes, and only those (another process's file, or a
// file that merely looks alike, stays).
TEST_F(Faults, TemporaryFilesOfAKilledRunAreRemovedOnTheNextStart) {
  const std::string out = dir_.file("run");
  ASSERT_EQ(run(kVdl + " --out " + out + " --max-steps 2"), 0) << err_;
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);  // a PID that no process holds now
  const std::string stale[] = {"config.toml.tmp-" + std::to_string(gone) + "-1234",
                               "metrics.jsonl.tmp-" + std::to_string(gone) + "-99"};
  const std::string kept[] = {"summary.json.tmp-" + std::to_string(::getpid()) + "-5",
                              "notes.tmp-x"};
  for (const auto& n : stale) std::ofstream(out + "/" + n) << "half a write";
  for (const auto& n : kept) std::ofstream(out + "/" + n) << "x";
  ASSERT_EQ(run(kVdl + " --out " + out + " --max-steps 3 --resume"), 0) << err_;
  for (const auto& n : stale) EXPECT_FALSE(fs::exists(out + "/" + n)) << n;
  for (const auto& n : kept) EXPECT_TRUE(fs::exists(out + "/" + n)) << n;
  EXPECT_NE(err_.find("removed 2 temporary files a killed run left in " + out), std::string::npos)
      << err_;
}

}  // namespace
