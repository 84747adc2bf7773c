// train_ctrl's --resume is exact: a tiny CSC-CTRL trained for 4 steps in one
// go and the same run stopped early (by --max-steps, by SIGINT, by
// --time-limit) and resumed end at identical weights, bit for bit.
#include "sparseloop/families/ctrl/trainer.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <ATen/CPUGeneratorImpl.h>

#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/families/ctrl/reference_classifier.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/signals.h"
#include "support/data_files.h"
#include "support/testing.h"

using namespace sparseloop;
namespace td = sparseloop::test_data;
namespace fs = std::filesystem;

namespace {

/// Sets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

struct CtrlRunSetup {
  ts::TempDir dir;
  ScopedEnv data_root{"SPARSELOOP_DATA", dir.path()};  // the judge's cache goes here
  std::string data = dir.file("mnist");
  CtrlRunSetup() { td::write_bar_digits(data, 80, 20, true); }

  CommonTrainConfig common(const std::string& run, int64_t max_steps) const {
    CommonTrainConfig c;
    c.model = "csc-ctrl";
    c.data = "mnist";
    c.data_dir = data;
    c.out = dir.file(run);
    c.batch_size = 8;
    c.max_steps = max_steps;
    c.eval_every = 2;
    c.log_every = 1;
    c.threads = 1;
    c.seed = 7;
    c.device = "cpu";
    return c;
  }
  static CtrlConfig config() {
    CtrlConfig c;
    c.width = 4;
    c.lr = 5e-3;  // large enough that every step visibly moves the weights
    c.objective = "delta";
    c.val_size = 16;  // 64 training images: the 8 BatchNorm statistics batches
    c.classifier_epochs = 1;
    return c;
  }
};

void expect_same_tensors(const std::string& a, const std::string& b) {
  const TensorFile fa = load_safetensors(a), fb = load_safetensors(b);
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size()) << a << " vs " << b;
  for (size_t i = 0; i < fa.tensors.size(); ++i) {
    const auto& [name, t] = fa.tensors[i];
    ASSERT_TRUE(fb.contains(name)) << name;
    const auto& u = fb.get(name);
    ASSERT_EQ(t.sizes(), u.sizes()) << name;
    EXPECT_TRUE(torch::equal(t, u)) << b << ": " << name << " differs by "
                                    << (t.to(torch::kDouble) - u.to(torch::kDouble))
                                           .abs()
                                           .max()
                                           .item<double>();
  }
}

/// The final weights and the last checkpoint (model tensors, BatchNorm and
/// power-iteration buffers, RNG state) of two runs are identical.
void expect_same_run(const CtrlRunSetup& s, const std::string& reference, const std::string& run) {
  expect_same_tensors(s.dir.file(reference + "/model.safetensors"),
                      s.dir.file(run + "/model.safetensors"));
  expect_same_tensors(s.dir.file(reference + "/checkpoints/step-00000004/model.safetensors"),
                      s.dir.file(run + "/checkpoints/step-00000004/model.safetensors"));
}

}  // namespace

TEST(CtrlTrainer, ResumeIsExactAfterMaxStepsSigintAndTimeLimit) {
  torch::set_num_threads(1);
  CtrlRunSetup s;
  const CtrlConfig cfg = CtrlRunSetup::config();

  // Uninterrupted: 4 steps, validations (and checkpoints) at steps 2 and 4.
  auto summary = train_ctrl(s.common("ref", 4), cfg);
  EXPECT_EQ(summary["steps"].get<int64_t>(), 4);
  // The steps did move the weights (else "identical" would prove nothing).
  {
    const TensorFile a = load_safetensors(s.dir.file("ref/checkpoints/step-00000002/model.safetensors"));
    const TensorFile b = load_safetensors(s.dir.file("ref/checkpoints/step-00000004/model.safetensors"));
    EXPECT_FALSE(torch::equal(a.get("csc0.weight"), b.get("csc0.weight")));
  }

  // Stopped by --max-steps 2 (a validation step), resumed with --max-steps 4.
  train_ctrl(s.common("steps", 2), cfg);
  {
    auto c = s.common("steps", 4);
    c.resume = true;
    EXPECT_EQ(train_ctrl(c, cfg)["steps"].get<int64_t>(), 4);
  }
  expect_same_run(s, "ref", "steps");

  // Stopped by SIGINT (pending before the first step: the loop stops after
  // step 1 and checkpoints it without validating), resumed.
  {
    ts::SignalStateGuard guard;
    install_stop_handlers();
    std::raise(SIGINT);
    int code = 0;
    try {
      train_ctrl(s.common("sigint", 4), cfg);
      ADD_FAILURE() << "no StopRequested";
    } catch (const StopRequested& stop) {
      code = stop.code();
    }
    EXPECT_EQ(code, 130);
  }
  EXPECT_EQ(latest_checkpoint(s.dir.file("sigint/checkpoints")), "step-00000001");
  {
    auto c = s.common("sigint", 4);
    c.resume = true;
    EXPECT_EQ(train_ctrl(c, cfg)["steps"].get<int64_t>(), 4);
  }
  expect_same_run(s, "ref", "sigint");

  // Stopped by --time-limit after step 1 (not a validation step: the loop
  // validates there before checkpointing), resumed without a limit.
  {
    auto c = s.common("time", 4);
    c.time_limit = 1e-6;
    auto first = train_ctrl(c, cfg);
    EXPECT_TRUE(first["stopped_by_time_limit"].get<bool>());
    EXPECT_EQ(first["steps"].get<int64_t>(), 1);
  }
  EXPECT_EQ(latest_checkpoint(s.dir.file("time/checkpoints")), "step-00000001");
  {
    auto c = s.common("time", 4);
    c.resume = true;
    EXPECT_EQ(train_ctrl(c, cfg)["steps"].get<int64_t>(), 4);
  }
  expect_same_run(s, "ref", "time");
}

// --augment: the draws depend on (seed, step) only, so an augmented run
// stopped and resumed ends where the uninterrupted one does; the augmentation
// does change what the model sees; a bad list is refused before anything runs.
TEST(CtrlTrainer, AugmentedRunResumesExactlyAndDiffersFromThePlainRun) {
  torch::set_num_threads(1);
  CtrlRunSetup s;
  CtrlConfig cfg = CtrlRunSetup::config();
  train_ctrl(s.common("plain", 4), cfg);
  cfg.augment = "hflip,dihedral,channels";
  train_ctrl(s.common("aug", 4), cfg);
  train_ctrl(s.common("aug_resumed", 2), cfg);
  {
    auto c = s.common("aug_resumed", 4);
    c.resume = true;
    EXPECT_EQ(train_ctrl(c, cfg)["steps"].get<int64_t>(), 4);
  }
  expect_same_run(s, "aug", "aug_resumed");
  const TensorFile a = load_safetensors(s.dir.file("aug/model.safetensors"));
  const TensorFile p = load_safetensors(s.dir.file("plain/model.safetensors"));
  EXPECT_FALSE(torch::equal(a.get("csc0.weight"), p.get("csc0.weight")));
  for (const std::string bad : {"", "rotate", "hflip,", "none,hflip"}) {
    cfg.augment = bad;
    try {
      train_ctrl(s.common("bad", 4), cfg);
      ADD_FAILURE() << "accepted --augment '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--augment"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(s.dir.file("bad"))) << bad;  // refused before the run folder
  }
}

// The reference classifier, trained (with its own seed) or loaded from its
// cache, leaves the global generator where it was: the run that asks for it
// continues from the same random state either way.
TEST(CtrlTrainer, ReferenceClassifierLeavesTheGlobalGeneratorAlone) {
  torch::set_num_threads(1);
  ts::TempDir dir;
  ImageDataset train, test;
  train.images = torch::randint(0, 256, {130, 1, 8, 8}, torch::kLong).to(torch::kUInt8);
  train.labels = torch::arange(130, torch::kLong) % 3;
  train.num_classes = 3;
  test.images = train.images.narrow(0, 0, 10).clone();
  test.labels = train.labels.narrow(0, 0, 10).clone();
  test.num_classes = 3;
  auto prep = [](const torch::Tensor& x01) { return x01 * 2 - 1; };
  const std::string cache = dir.file("judge.safetensors");
  auto state = [] { return at::detail::getDefaultCPUGenerator().get_state(); };
  for (const char* pass : {"trained", "cached"}) {
    torch::manual_seed(42);
    const auto before = state();
    auto judge = reference_classifier(train, test, prep, cache, torch::kCPU, 1, 0);
    EXPECT_TRUE(torch::equal(state(), before)) << pass;
    EXPECT_TRUE(std::filesystem::exists(cache)) << pass;
    EXPECT_GE(judge.test_accuracy, 0.0);
  }
}

// Resuming from ANY checkpoint reproduces the uninterrupted run, file for
// file: from the checkpoint of a --time-limit stop at a step that is not a
// validation step, and from a periodic (--checkpoint-every) one, as after a
// SIGKILL right after it was written. The stop's validation once ran before
// its checkpoint: the checkpoint then held that validation's BatchNorm
// recalibration (statistics and batch counts the uninterrupted run never
// had at step 2) and could make the stop step the best one.
TEST(CtrlTrainer, ResumeFromAnyCheckpointIsByteExact) {
  torch::set_num_threads(1);
  CtrlRunSetup s;
  const CtrlConfig cfg = CtrlRunSetup::config();
  auto common = [&](const std::string& run) {
    auto c = s.common(run, 4);
    c.eval_every = 4;        // one validation, after the last step
    c.checkpoint_every = 2;  // periodic checkpoints at steps 2 and 4
    c.keep_checkpoints = 10;
    return c;
  };
  train_ctrl(common("ref"), cfg);

  {
    auto c = common("time");
    c.time_limit = 1e-6;  // stops after step 1: no validation, no periodic checkpoint
    auto first = train_ctrl(c, cfg);
    EXPECT_TRUE(first["stopped_by_time_limit"].get<bool>());
    EXPECT_EQ(first["steps"].get<int64_t>(), 1);
    c.time_limit = 0;
    c.resume = true;
    EXPECT_EQ(train_ctrl(c, cfg)["steps"].get<int64_t>(), 4);
  }
  ts::expect_same_run_files(s.dir.file("ref"), s.dir.file("time"));

  ts::copy_run_killed_after(s.dir.file("ref"), s.dir.file("killed"), 2);
  {
    auto c = common("killed");
    c.resume = true;
    EXPECT_EQ(train_ctrl(c, cfg)["steps"].get<int64_t>(), 4);
  }
  ts::expect_same_run_files(s.dir.file("ref"), s.dir.file("killed"));
}
