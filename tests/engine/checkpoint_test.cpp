#include "sparseloop/engine/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sparseloop/util/error.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {
// A net with a buffer that starts empty and takes its shape at the first
// forward, as a CSC layer's power-iteration vector does.
struct Net : torch::nn::Module {
  Net() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)));
    state = register_buffer("state", torch::zeros({0}));
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
    fc = register_module("fc", torch::nn::Linear(4 * 6 * 6, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv->forward(x);  // (B, 4, 6, 6)
    {
      torch::NoGradGuard no_grad;
      // resize_ leaves the new storage uninitialized; a NaN there stayed
      // NaN through mul_/add_ and made torch::equal fail at random (CI of
      // 867012e).
      if (state.numel() == 0) state.resize_({4}).zero_();
      state.mul_(0.5).add_(h.detach().mean({0, 2, 3}));
    }
    return fc->forward(bn->forward(h).flatten(1));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::Tensor state;
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Linear fc{nullptr};
};

void train_steps(Net& net, torch::optim::Adam& opt, int n, uint64_t seed) {
  torch::manual_seed(seed);
  for (int i = 0; i < n; ++i) {
    auto x = torch::randn({8, 1, 6, 6});
    auto y = torch::randint(0, 3, {8}, torch::kLong);
    opt.zero_grad();
    torch::nn::functional::cross_entropy(net.forward(x), y).backward();
    opt.step();
  }
}
}  // namespace

// Save after k steps, keep training; restoring the checkpoint into a fresh
// model and optimizer and training the same steps gives identical weights.
TEST(Checkpoint, RestoresModelOptimizerAndRngExactly) {
  ts::TempDir dir;
  torch::manual_seed(0);
  Net a;
  torch::optim::Adam opt_a(a.parameters(), 1e-2);
  train_steps(a, opt_a, 3, 1);
  TrainState st;
  st.step = 3;
  st.extra["note"] = "x";
  torch::manual_seed(42);  // the RNG state the continuation starts from
  save_checkpoint(dir.path(), "step-00000003", {&a, {&opt_a}, {}}, st);
  auto draw_a = torch::rand({3});
  train_steps(a, opt_a, 4, 2);

  torch::manual_seed(123);
  Net b;
  torch::optim::Adam opt_b(b.parameters(), 1e-2);
  auto restored = load_checkpoint(dir.path(), latest_checkpoint(dir.path()), {&b, {&opt_b}, {}});
  EXPECT_EQ(restored.step, 3);
  EXPECT_EQ(restored.extra["note"], "x");
  EXPECT_TRUE(torch::equal(torch::rand({3}), draw_a));  // RNG restored
  train_steps(b, opt_b, 4, 2);
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  auto ba = a.named_buffers(), bb = b.named_buffers();
  for (auto& p : ba) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << p.key();
}

TEST(Checkpoint, PruneKeepsTheNewestAndDamagedOnesAreReported) {
  ts::TempDir dir;
  Net a;
  torch::optim::Adam opt(a.parameters(), 1e-2);
  for (int s : {1, 2, 3, 4}) {
    TrainState st;
    st.step = s;
    char name[32];
    std::snprintf(name, sizeof name, "step-%08d", s);
    save_checkpoint(dir.path(), name, {&a, {&opt}, {}}, st);
  }
  prune_checkpoints(dir.path(), 2);
  EXPECT_FALSE(std::filesystem::exists(dir.file("step-00000002")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("step-00000003")));
  EXPECT_EQ(latest_checkpoint(dir.path()), "step-00000004");
  // No temporary folders are left behind.
  for (auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp", 0), std::string::npos);
  std::filesystem::remove(dir.file("step-00000004/optimizer-0.pt"));
  EXPECT_THROW(load_checkpoint(dir.path(), "step-00000004", {&a, {&opt}, {}}), InputError);
  EXPECT_THROW(load_checkpoint(dir.path(), "step-00000009", {&a, {&opt}, {}}), InputError);
}

TEST(Checkpoint, WeightsOfAnotherShapeAreRejectedWithTheTensorName) {
  ts::TempDir dir;
  Net a;
  save_weights(dir.file("w.safetensors"), a);
  struct Other : torch::nn::Module {
    Other() { fc = register_module("fc", torch::nn::Linear(5, 3)); }
    torch::nn::Linear fc{nullptr};
  } other;
  try {
    load_weights(dir.file("w.safetensors"), other);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fc.weight"), std::string::npos) << e.what();
  }
}

namespace {

// A state.json that parses as JSON but holds the wrong types once escaped as
// nlohmann's type_error (exit 1, a library message) from json::value();
// every damage is an InputError naming the file (the fuzz target
// state_json, docs/reliability.md).
TEST(Checkpoint, DamagedStateJsonIsAnInputErrorNamingTheFile) {
  for (const char* text : {"[1, 2]", "7", "{\"step\": \"7\"}", "{\"step\": 7.5}",
                           "{\"epoch\": -1}", "{\"best_step\": -2}", "{\"batch\": true}",
                           "{\"step\": 18446744073709551615}", "{\"best_metric\": \"x\"}",
                           "{\"extra\": [1]}", "{\"step\": 7", ""}) {
    const std::string m =
        ts::expect_input_error([&] { parse_train_state(text, "ck/state.json"); });
    EXPECT_NE(m.find("ck/state.json: damaged"), std::string::npos) << text << ": " << m;
  }
  const TrainState s = parse_train_state(
      "{\"step\": 9, \"epoch\": 1, \"batch\": 2, \"best_metric\": null, \"best_step\": -1, "
      "\"extra\": {\"k\": 1}}",
      "x");
  EXPECT_EQ(s.step, 9);
  EXPECT_EQ(s.epoch, 1);
  EXPECT_EQ(s.batch, 2);
  EXPECT_EQ(s.best_step, -1);
  EXPECT_EQ(s.extra["k"], 1);
}

// What a writer killed mid-save leaves: an unfinished .tmp- folder (removed)
// and a checkpoint moved aside whose replacement never took its name (put
// back); a moved-aside copy whose replacement is in place is removed.
TEST(Checkpoint, RecoverSweepsUnfinishedAndRestoresMovedAsideCheckpoints) {
  ts::TempDir dir;
  namespace fs = std::filesystem;
  for (const char* d : {".tmp-step-00000003-77", ".old-best-77", ".old-step-00000002-78",
                        "step-00000002"})
    fs::create_directories(dir.file(d));
  std::ofstream(dir.file(".old-best-77/state.json")) << "{}";
  recover_checkpoints(dir.path());
  EXPECT_FALSE(fs::exists(dir.file(".tmp-step-00000003-77")));
  EXPECT_TRUE(fs::exists(dir.file("best/state.json")));
  EXPECT_FALSE(fs::exists(dir.file(".old-best-77")));
  EXPECT_FALSE(fs::exists(dir.file(".old-step-00000002-78")));
  EXPECT_TRUE(fs::exists(dir.file("step-00000002")));
  EXPECT_EQ(step_checkpoints(dir.path()), std::vector<std::string>{"step-00000002"});
}

}  // namespace
