#include "sparseloop/engine/family.h"
#include "sparseloop/families/sdnet/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "sparseloop/engine/run_dir.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

/// Three classes of 12×12 grey images: a horizontal bar, a vertical bar or a
/// diagonal, at a random position, with noise (uint8, like every dataset).
ImageDataset bars(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto images = torch::zeros({n, 1, 12, 12});
  auto labels = torch::randint(0, 3, {n}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = labels[i].item<int64_t>();
    const int64_t p = torch::randint(2, 10, {1}).item<int64_t>();
    if (c == 0) images[i][0][p].fill_(1.0);
    if (c == 1) images[i][0].select(1, p).fill_(1.0);
    if (c == 2)
      for (int64_t k = 0; k < 12; ++k) images[i][0][k][(k + p) % 12] = 1.0;
  }
  images = (images * 0.8 + 0.2 * torch::rand_like(images)).clamp(0, 1);
  ImageDataset d;
  d.images = (images * 255).round().to(torch::kUInt8).contiguous();
  d.labels = labels;
  d.num_classes = 3;
  d.name = "bars";
  return d;
}

SdnetConfig tiny_config() {
  SdnetConfig c;
  c.width = 4;
  c.augment = "none";
  c.normalize = "0.3/0.3";
  c.lr = 0.05;
  c.test_batch_size = 64;
  return c;
}

CommonTrainConfig tiny_common(const std::string& model, const std::string& out, int64_t steps) {
  CommonTrainConfig c;
  c.model = model;
  c.out = out;
  c.max_steps = steps;
  c.batch_size = 16;
  c.threads = 1;
  c.device = "cpu";
  c.eval_every = steps;
  c.log_every = 5;
  return c;
}

}  // namespace

// A tiny SDNet-18 learns the three bar classes (chance is 33 %). Sixty steps:
// the stem's sparse codes have a small variance, and BatchNorm's running
// variance (initialized to 1, momentum 0.1) needs ~50 steps to forget its
// start before eval-mode predictions follow the trained ones.
TEST(SdnetTrainer, TinyTrainingRunImprovesAccuracy) {
  ts::TempDir dir;
  SdnetData data = prepare_sdnet_data({bars(96, 1), bars(60, 2)}, "bars", tiny_config());
  auto common = tiny_common("sdnet18", dir.file("run"), 60);
  torch::manual_seed(0);
  Sdnet untrained = build_sdnet("sdnet18", tiny_config(), 1, 3, 12);
  const double before =
      evaluate_classifier(untrained, data, data.splits.test, torch::kCPU, 64).top1;
  auto summary = train_sdnet_on(common, tiny_config(), data);
  const double after = summary["last"]["top1"].get<double>();
  EXPECT_GT(after, 85.0) << "before " << before;
  EXPECT_GT(after, before + 30.0);
  EXPECT_TRUE(file_exists(dir.file("run/model.safetensors")));
  EXPECT_TRUE(file_exists(dir.file("run/config.toml")));
  EXPECT_TRUE(file_exists(dir.file("run/training_curves.png")));
  // Top-1 and top-5 of every validation go to metrics.jsonl.
  bool has_val = false;
  for (const auto& r : read_metrics(dir.file("run")))
    if (r.value("split", "") == "val") {
      has_val = true;
      EXPECT_TRUE(r.contains("top1") && r.contains("top5") && r.contains("loss"));
    }
  EXPECT_TRUE(has_val);
}

// An interrupted run resumed from its checkpoint ends with exactly the
// weights of an uninterrupted one (schedule, augmentation noise, optimizer
// state, the power-iteration state and the restart references all restored).
TEST(SdnetTrainer, ResumeIsExact) {
  ts::TempDir dir;
  auto cfg = tiny_config();
  cfg.augment = "crop";
  cfg.crop_padding = 2;
  SdnetData data = prepare_sdnet_data({bars(48, 3), bars(16, 4)}, "bars", cfg);
  auto a = tiny_common("sdnet18-all", dir.file("a"), 6);
  a.checkpoint_every = 3;
  a.eval_every = 3;
  train_sdnet_on(a, cfg, data);
  auto b = a;
  b.out = dir.file("b");
  train_sdnet_on(b, cfg, data);
  // Interrupt b after step 3: drop its later checkpoint and final weights, resume.
  std::filesystem::remove_all(dir.file("b/checkpoints/step-00000006"));
  std::filesystem::remove(dir.file("b/model.safetensors"));
  b.resume = true;
  train_sdnet_on(b, cfg, data);
  auto wa = load_safetensors(dir.file("a/model.safetensors"));
  auto wb = load_safetensors(dir.file("b/model.safetensors"));
  int64_t compared = 0;
  for (const auto& [name, t] : wa.tensors) {
    EXPECT_TRUE(torch::equal(t, wb.get(name))) << name;
    ++compared;
  }
  EXPECT_GT(compared, 50);
}

// CosineAnnealingLR(T_max = total, eta_min) per iteration, and MultiStepLR per
// epoch, against their closed forms.
TEST(SdnetTrainer, LearningRateSchedules) {
  SdnetConfig c;
  c.lr = 0.1;
  c.lr_min = 1e-6;
  EXPECT_DOUBLE_EQ(sdnet_learning_rate(c, 0, 1000, 10), 0.1);
  EXPECT_NEAR(sdnet_learning_rate(c, 500, 1000, 10), (0.1 + 1e-6) / 2, 1e-15);
  EXPECT_NEAR(sdnet_learning_rate(c, 1000, 1000, 10), 1e-6, 1e-15);
  EXPECT_NEAR(sdnet_learning_rate(c, 250, 1000, 10),
              1e-6 + (0.1 - 1e-6) * (1 + std::cos(M_PI / 4)) / 2, 1e-15);
  c.schedule = "multistep";
  c.milestones = "30,60,90";
  c.gamma = 0.1;
  EXPECT_NEAR(sdnet_learning_rate(c, 29 * 10 + 9, 0, 10), 0.1, 1e-15);
  EXPECT_NEAR(sdnet_learning_rate(c, 30 * 10, 0, 10), 0.01, 1e-15);
  EXPECT_NEAR(sdnet_learning_rate(c, 95 * 10, 0, 10), 1e-4, 1e-15);
  c.schedule = "step";
  EXPECT_THROW(sdnet_learning_rate(c, 0, 1, 1), InputError);
}

// The MNIST pipeline: 28 → 32 by zero padding, MNIST's mean/std, no flip.
TEST(SdnetTrainer, MnistPipelinePadsAndNormalizes) {
  auto train = bars(8, 5);
  train.images = torch::randint(0, 256, {8, 1, 28, 28}, torch::kLong).to(torch::kUInt8);
  SdnetConfig cfg;
  SdnetData d = prepare_sdnet_data({train, train}, "mnist", cfg);
  EXPECT_EQ(d.image_size, 32);
  EXPECT_EQ(d.pad, 2);
  EXPECT_EQ(d.augment, "crop");
  auto idx = torch::arange(3, torch::kLong);
  auto x = d.eval_batch(train, idx);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{3, 1, 32, 32}));
  auto raw = train.images.index_select(0, idx).to(torch::kFloat) / 255.0;
  auto expected = (torch::constant_pad_nd(raw, {2, 2, 2, 2}, 0.0) - 0.1307) / 0.3081;
  EXPECT_LT((x - expected).abs().max().item<double>(), 1e-5);
  auto gen = at::detail::createCPUGenerator(1);
  EXPECT_EQ(d.train_batch(idx, gen).sizes(), x.sizes());
  // Bad options name their flag.
  cfg.normalize = "0.1,0.2/0.3";
  EXPECT_THROW(prepare_sdnet_data({train, train}, "mnist", cfg), InputError);
  cfg.normalize = "auto";
  cfg.augment = "mixup";
  EXPECT_THROW(prepare_sdnet_data({train, train}, "mnist", cfg), InputError);
  cfg.augment = "auto";
  cfg.image_size = 31;
  EXPECT_THROW(prepare_sdnet_data({train, train}, "mnist", cfg), InputError);
}

// The MNIST preset scales the digits but does not centre them: a black pixel
// (and the zero padding to 32×32) stays 0, the background the CSC stem
// explains with zero codes; centred, the background becomes a constant that
// the stem detects with DC atoms, and test-time λ no longer removes noise
// (docs/sdnet.md, "Why the digits are not centred").
TEST(SdnetTrainer, MnistPresetKeepsTheBackgroundAtZero) {
  SdnetConfig cfg;
  ConfigValues family;
  for (const auto& [k, v] : find_preset("mnist-sdnet").values)
    if (k != "data" && k != "epochs" && k != "batch-size") family[k] = v;
  ValuesReader r(family, "mnist-sdnet");
  cfg.visit(r);
  auto train = bars(4, 6);
  train.images = torch::zeros({4, 1, 28, 28}, torch::kUInt8);
  train.images[1].fill_(255);
  SdnetData d = prepare_sdnet_data({train, train}, "mnist", cfg);
  auto x = d.eval_batch(train, torch::arange(2, torch::kLong));  // (2, 1, 32, 32)
  EXPECT_EQ(x[0].abs().max().item<double>(), 0.0);
  EXPECT_NEAR(x[1][0][16][16].item<double>(), 1.0 / 0.3081, 1e-5);
  EXPECT_EQ(x[1][0][0][0].item<double>(), 0.0);  // the padding
}

TEST(SdnetTrainer, PresetsAreListedAndValid) {
  std::vector<std::string> names;
  for (const auto& p : sdnet_presets()) {
    names.push_back(p.name);
    SdnetConfig c;
    ConfigValues family;
    for (const auto& [k, v] : p.values)
      if (k != "data" && k != "epochs" && k != "batch-size") family[k] = v;
    ValuesReader r(family, p.name);
    c.visit(r);
    EXPECT_TRUE(r.unused().empty()) << p.name;
    EXPECT_NO_THROW(sdnet_csc(c)) << p.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"cifar10-sdnet", "cifar100-sdnet", "imagenet-sdnet",
                                             "mnist-sdnet"}));
  EXPECT_EQ(find_preset("cifar10-sdnet").values.at("weight-decay"), "5e-4");
}

// Resuming from ANY checkpoint reproduces the uninterrupted run, file for
// file: from a --time-limit stop at a step that is not a validation step and
// from a periodic checkpoint (a SIGKILL right after it was written). With L
// refreshed before every forward (the authors' policy), the stop's
// validation, when it ran before the checkpoint, advanced every layer's power
// iteration over the test batches: the resumed run's step sizes, and so its
// weights, drifted from the uninterrupted run's.
TEST(SdnetTrainer, ResumeFromAnyCheckpointIsByteExact) {
  ts::TempDir dir;
  auto cfg = tiny_config();
  cfg.augment = "crop";
  cfg.crop_padding = 2;
  cfg.csc.step_refresh(StepRefresh::kEveryForward);
  SdnetData data = prepare_sdnet_data({bars(48, 3), bars(16, 4)}, "bars", cfg);
  auto common = [&](const std::string& run) {
    auto c = tiny_common("sdnet18", dir.file(run), 4);
    c.checkpoint_every = 2;
    c.keep_checkpoints = 10;
    c.seed = 11;
    return c;
  };
  train_sdnet_on(common("ref"), cfg, data);

  auto c = common("time");
  c.time_limit = 1e-6;  // stops after step 1: no validation, no periodic checkpoint
  EXPECT_EQ(train_sdnet_on(c, cfg, data)["steps"].get<int64_t>(), 1);
  c.time_limit = 0;
  c.resume = true;
  EXPECT_EQ(train_sdnet_on(c, cfg, data)["steps"].get<int64_t>(), 4);
  ts::expect_same_run_files(dir.file("ref"), dir.file("time"));

  ts::copy_run_killed_after(dir.file("ref"), dir.file("killed"), 2);
  auto k = common("killed");
  k.resume = true;
  EXPECT_EQ(train_sdnet_on(k, cfg, data)["steps"].get<int64_t>(), 4);
  ts::expect_same_run_files(dir.file("ref"), dir.file("killed"));
}
