// TrainLoop's ways of stopping (engine/loop.h): --time-limit, SIGINT/SIGTERM
// and a non-finite metric, each with the checkpoint it must leave behind, and
// --resume after them finishing at exactly the weights of an uninterrupted run.
#include "sparseloop/engine/loop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <csignal>
#include <limits>
#include <thread>

#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/signals.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

// A tiny regression net with BatchNorm buffers that training updates.
struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(4, 8));
    bn = register_module("bn", torch::nn::BatchNorm1d(8));
    fc2 = register_module("fc2", torch::nn::Linear(8, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc2->forward(torch::relu(bn->forward(fc1->forward(x))));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(TinyNet);

/// The training data: 24 samples, fixed.
struct Data {
  torch::Tensor x, y;
  Data() {
    auto gen = at::detail::createCPUGenerator(123);
    x = torch::randn({24, 4}, gen);
    y = torch::randn({24, 2}, gen);
  }
};

LoopSpec tiny_spec() {
  LoopSpec s;
  s.dataset_size = 24;
  s.batch_size = 4;  // 6 batches per epoch: 12 steps cross an epoch boundary
  s.max_steps = 12;
  s.eval_every = 4;
  s.seed = 5;
  s.log_every = 1;
  s.keep_checkpoints = 10;
  return s;
}

/// A model, its optimizer and a loop over a run folder. The model starts from
/// the same weights every time (a resumed run overwrites them anyway).
struct Session {
  Session(const std::string& dir, bool resume, const LoopSpec& spec)
      : net([] {
          torch::manual_seed(0);
          return TinyNet();
        }()),
        opt(net->parameters(), torch::optim::AdamOptions(1e-2)),
        run(dir, resume),
        loop(run, CheckpointParts{net.get(), {&opt}, {}}, spec) {}

  TinyNet net;
  torch::optim::Adam opt;
  RunDir run;
  TrainLoop loop;
  std::vector<int64_t> validated_at;  ///< state.step of every validation

  /// `hook(step)` runs at the start of the step that will become step `step`
  /// + 1 (state.step before the increment); it may return metrics to add.
  nlohmann::json run_loop(const Data& data,
                          const std::function<nlohmann::json(int64_t)>& hook = {}) {
    auto step = [&](TrainState& state, const torch::Tensor& idx) {
      nlohmann::json extra = hook ? hook(state.step) : nlohmann::json::object();
      net->train();
      // Input noise from the global generator: resume must restore its state.
      auto x = data.x.index_select(0, idx) + 0.1 * torch::randn({idx.size(0), 4});
      auto loss = torch::mse_loss(net->forward(x), data.y.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
      nlohmann::json m = {{"loss", loss.item<double>()}};
      if (extra.is_object()) m.update(extra);
      return m;
    };
    auto validate = [&](TrainState& state) {
      torch::NoGradGuard no_grad;
      validated_at.push_back(state.step);
      net->eval();
      const double v = torch::mse_loss(net->forward(data.x), data.y).item<double>();
      net->train();
      return nlohmann::json{{"loss", v}};
    };
    return loop.run(step, validate);
  }
};

std::vector<std::pair<std::string, torch::Tensor>> tensors_of(torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : m.named_buffers()) out.emplace_back(b.key(), b.value().detach().clone());
  return out;
}

void expect_identical(const std::vector<std::pair<std::string, torch::Tensor>>& a,
                      const std::vector<std::pair<std::string, torch::Tensor>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first << " differs";
  }
}

/// The weights of an uninterrupted 12-step run.
std::vector<std::pair<std::string, torch::Tensor>> uninterrupted(const Data& data) {
  ts::TempDir dir;
  Session s(dir.path(), false, tiny_spec());
  torch::manual_seed(1);
  auto summary = s.run_loop(data);
  EXPECT_EQ(summary["steps"].get<int64_t>(), 12);
  EXPECT_FALSE(summary["stopped_by_time_limit"].get<bool>());
  EXPECT_EQ(s.validated_at, (std::vector<int64_t>{4, 8, 12}));
  return tensors_of(*s.net);
}

/// Loads checkpoint `name` of `dir` into a fresh model; returns its state and tensors.
std::pair<TrainState, std::vector<std::pair<std::string, torch::Tensor>>> read_checkpoint(
    const std::string& dir, const std::string& name) {
  TinyNet net;
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2));
  auto state = load_checkpoint(dir + "/checkpoints", name, CheckpointParts{net.get(), {&opt}, {}});
  return {state, tensors_of(*net)};
}

/// Resumes the run in `dir` from a scrambled global RNG state (the checkpoint
/// must bring back its own) and trains to the end.
std::vector<std::pair<std::string, torch::Tensor>> resume_to_end(const std::string& dir,
                                                                 const Data& data,
                                                                 int64_t expect_from) {
  Session s(dir, true, tiny_spec());
  torch::manual_seed(999);
  EXPECT_TRUE(s.loop.resume());
  EXPECT_EQ(s.loop.state().step, expect_from);
  auto summary = s.run_loop(data);
  EXPECT_EQ(summary["steps"].get<int64_t>(), 12);
  EXPECT_FALSE(summary["stopped_by_time_limit"].get<bool>());
  return tensors_of(*s.net);
}

}  // namespace

// --time-limit: the step that crosses the limit is the last; the loop then
// validates (step 5 is not a validation step), checkpoints that step and
// reports stopped_by_time_limit; --resume finishes at the uninterrupted weights.
TEST(TrainLoop, TimeLimitStopsCleanlyAndResumesExactly) {
  const Data data;
  const auto reference = uninterrupted(data);

  ts::TempDir dir;
  std::vector<std::pair<std::string, torch::Tensor>> at_stop;
  {
    LoopSpec spec = tiny_spec();
    spec.time_limit = 1.0;
    Session s(dir.path(), false, spec);
    torch::manual_seed(1);
    auto summary = s.run_loop(data, [](int64_t step) {
      if (step == 4) std::this_thread::sleep_for(std::chrono::milliseconds(1100));
      return nlohmann::json::object();
    });
    EXPECT_TRUE(summary["stopped_by_time_limit"].get<bool>());
    EXPECT_EQ(summary["steps"].get<int64_t>(), 5);
    EXPECT_EQ(s.loop.state().step, 5);
    EXPECT_EQ(s.validated_at, (std::vector<int64_t>{4, 5}));
    EXPECT_EQ(summary["last"]["loss"], s.loop.last_validation()["loss"]);
    at_stop = tensors_of(*s.net);
  }
  EXPECT_EQ(latest_checkpoint(dir.file("checkpoints")), "step-00000005");
  const auto [state, saved] = read_checkpoint(dir.path(), "step-00000005");
  EXPECT_EQ(state.step, 5);
  EXPECT_EQ(state.epoch, 0);
  EXPECT_EQ(state.batch, 5);
  expect_identical(saved, at_stop);
  // The stop's validation is in metrics.jsonl.
  bool logged = false;
  for (const auto& r : read_metrics(dir.path()))
    logged |= r.value("split", "") == "val" && r.value("step", int64_t(-1)) == 5;
  EXPECT_TRUE(logged);

  expect_identical(resume_to_end(dir.path(), data, 5), reference);
}

// SIGINT mid-run: the loop finishes the step, checkpoints it (step 6 is not a
// checkpoint step) and throws StopRequested with code 130; resuming from that
// checkpoint finishes at the uninterrupted weights.
TEST(TrainLoop, SigintCheckpointsTheStepAndThrowsStopRequested130) {
  const Data data;
  const auto reference = uninterrupted(data);
  ts::SignalStateGuard guard;
  install_stop_handlers();

  ts::TempDir dir;
  std::vector<std::pair<std::string, torch::Tensor>> at_stop;
  {
    Session s(dir.path(), false, tiny_spec());
    torch::manual_seed(1);
    int code = 0;
    try {
      s.run_loop(data, [](int64_t step) {
        if (step == 5) std::raise(SIGINT);
        return nlohmann::json::object();
      });
      ADD_FAILURE() << "no StopRequested";
    } catch (const StopRequested& stop) {
      code = stop.code();
    }
    EXPECT_EQ(code, 130);
    EXPECT_EQ(s.loop.state().step, 6);
    EXPECT_EQ(s.validated_at, (std::vector<int64_t>{4}));  // no extra validation
    at_stop = tensors_of(*s.net);
  }
  reset_stop_signal();
  EXPECT_EQ(latest_checkpoint(dir.file("checkpoints")), "step-00000006");
  const auto [state, saved] = read_checkpoint(dir.path(), "step-00000006");
  EXPECT_EQ(state.step, 6);
  EXPECT_EQ(state.epoch, 0);
  EXPECT_EQ(state.batch, 6);
  expect_identical(saved, at_stop);

  expect_identical(resume_to_end(dir.path(), data, 6), reference);
}

// SIGTERM on a step that is itself a checkpoint step: code 143, and the
// regular checkpoint of that step is the one left (not written twice).
TEST(TrainLoop, SigtermOnACheckpointStepThrowsStopRequested143) {
  const Data data;
  const auto reference = uninterrupted(data);
  ts::SignalStateGuard guard;
  install_stop_handlers();

  ts::TempDir dir;
  std::vector<std::pair<std::string, torch::Tensor>> at_stop;
  {
    Session s(dir.path(), false, tiny_spec());
    torch::manual_seed(1);
    int code = 0;
    try {
      s.run_loop(data, [](int64_t step) {
        if (step == 7) std::raise(SIGTERM);
        return nlohmann::json::object();
      });
      ADD_FAILURE() << "no StopRequested";
    } catch (const StopRequested& stop) {
      code = stop.code();
    }
    EXPECT_EQ(code, 143);
    EXPECT_EQ(s.loop.state().step, 8);
    EXPECT_EQ(s.validated_at, (std::vector<int64_t>{4, 8}));
    at_stop = tensors_of(*s.net);
  }
  reset_stop_signal();
  EXPECT_EQ(latest_checkpoint(dir.file("checkpoints")), "step-00000008");
  const auto [state, saved] = read_checkpoint(dir.path(), "step-00000008");
  EXPECT_EQ(state.step, 8);
  EXPECT_EQ(state.epoch, 1);  // 6 batches per epoch
  EXPECT_EQ(state.batch, 2);
  expect_identical(saved, at_stop);

  expect_identical(resume_to_end(dir.path(), data, 8), reference);
}

// A NaN metric stops training with NumericalError naming the step and the
// key; the state the step wrecked never reaches a checkpoint, and the last
// good one (step 4) loads and holds the weights of step 4.
TEST(TrainLoop, NanMetricThrowsNumericalErrorAndKeepsTheLastGoodCheckpoint) {
  const Data data;
  ts::TempDir dir;
  Session s(dir.path(), false, tiny_spec());
  std::vector<std::pair<std::string, torch::Tensor>> at_step4;
  torch::manual_seed(1);
  std::string message;
  try {
    s.run_loop(data, [&](int64_t step) -> nlohmann::json {
      if (step == 4) at_step4 = tensors_of(*s.net);
      if (step != 6) return nlohmann::json::object();
      // The step wrecks state (a buffer the training loss does not read, so
      // the loss itself stays finite) and reports a NaN diagnostic.
      s.net->bn->running_mean.fill_(std::numeric_limits<double>::quiet_NaN());
      return {{"grad_norm", std::numeric_limits<double>::quiet_NaN()}};
    });
    ADD_FAILURE() << "no NumericalError";
  } catch (const NumericalError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("step 7"), std::string::npos) << message;
  EXPECT_NE(message.find("grad_norm"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.file("checkpoints")), std::string::npos) << message;
  EXPECT_EQ(s.loop.state().step, 7);

  EXPECT_EQ(latest_checkpoint(dir.file("checkpoints")), "step-00000004");
  const auto [state, saved] = read_checkpoint(dir.path(), "step-00000004");
  EXPECT_EQ(state.step, 4);
  ASSERT_FALSE(at_step4.empty());
  expect_identical(saved, at_step4);
  for (const auto& [name, t] : saved)
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
  // The best checkpoint (validated at step 4) is intact too; the diverged step
  // was not logged.
  EXPECT_EQ(read_checkpoint(dir.path(), "best").first.best_step, 4);
  for (const auto& r : read_metrics(dir.path()))
    EXPECT_LT(r.value("step", int64_t(0)), 7) << r.dump();
}

// Infinity is caught the same way, here on the loss itself.
TEST(TrainLoop, InfiniteLossThrowsNumericalErrorNamingStepAndKey) {
  const Data data;
  ts::TempDir dir;
  Session s(dir.path(), false, tiny_spec());
  torch::manual_seed(1);
  try {
    s.run_loop(data, [](int64_t step) -> nlohmann::json {
      if (step == 1) return {{"loss", std::numeric_limits<double>::infinity()}};
      return nlohmann::json::object();
    });
    ADD_FAILURE() << "no NumericalError";
  } catch (const NumericalError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("step 2"), std::string::npos) << m;
    EXPECT_NE(m.find("loss"), std::string::npos) << m;
  }
  EXPECT_EQ(latest_checkpoint(dir.file("checkpoints")), "");
}

namespace {

// A gradient or a weight that blows up while the step's loss still reads
// finite (planted after step 6's update through SPARSELOOP_INJECT_NAN, the
// hook docs/reliability.md describes): the loop stops at step 6 naming the
// tensor, before step 6 is checkpointed; the newest checkpoint is step 4's.
TEST(TrainLoop, NonFiniteGradientOrWeightStopsNamingTheTensor) {
  const Data data;
  for (const char* term : {"grad", "weight"}) {
    SCOPED_TRACE(term);
    ts::TempDir dir;
    Session s(dir.path(), false, tiny_spec());
    torch::manual_seed(1);
    setenv("SPARSELOOP_INJECT_NAN", (std::string(term) + "@6").c_str(), 1);
    std::string m;
    try {
      s.run_loop(data);
      ADD_FAILURE() << "no NumericalError";
    } catch (const NumericalError& e) {
      m = e.what();
    }
    unsetenv("SPARSELOOP_INJECT_NAN");
    EXPECT_NE(m.find("step 6"), std::string::npos) << m;
    EXPECT_NE(m.find(std::string(term) == "grad" ? "the gradient of fc1.weight" : "weight fc1.weight"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("step-00000004"), std::string::npos) << m;
    EXPECT_EQ(latest_checkpoint(dir.file("checkpoints")), "step-00000004");
  }
  setenv("SPARSELOOP_INJECT_NAN", "weights@x", 1);
  ts::TempDir dir;
  Session s(dir.path(), false, tiny_spec());
  EXPECT_THROW(s.run_loop(data), InputError);
  unsetenv("SPARSELOOP_INJECT_NAN");
}

// A damaged newest checkpoint: resume says so and continues from the one
// before (exactly: the run ends with the uninterrupted run's weights).
TEST(TrainLoop, ResumePassesOverADamagedNewestCheckpoint) {
  const Data data;
  const auto reference = uninterrupted(data);
  ts::TempDir dir;
  {
    auto spec = tiny_spec();
    spec.max_steps = 8;  // checkpoints at 4 and 8
    Session s(dir.path(), false, spec);
    torch::manual_seed(1);
    s.run_loop(data);
  }
  std::ofstream(dir.file("checkpoints/step-00000008/model.safetensors"), std::ios::trunc) << "x";
  expect_identical(resume_to_end(dir.path(), data, 4), reference);
}

// The best checkpoint with a tie metric (CSC-CTRL: consistency, ties within
// two standard errors won by PSNR), on the validations of a recorded demo
// run, where consistency alone kept step 300 at 14.5 dB.
TEST(TrainLoop, BestCheckpointTiesWithinTheMarginGoToTheTieMetric) {
  LoopSpec spec;
  spec.metric = "consistency_accuracy";
  spec.maximize = true;
  spec.tie_metric = "psnr";
  spec.tie_margin = [](double top) { return 2.0 * std::sqrt(top * (1.0 - top) / 999.0); };
  const std::vector<std::pair<double, double>> run = {
      {0.937, 8.9},  {0.898, 11.3}, {0.965, 14.5}, {0.892, 16.2}, {0.898, 16.1}, {0.959, 20.8},
      {0.897, 18.2}, {0.959, 20.3}, {0.946, 19.8}, {0.950, 20.2}, {0.933, 20.6}, {0.959, 21.2}};
  TrainState state;
  std::vector<int64_t> chosen;
  for (size_t i = 0; i < run.size(); ++i) {
    state.step = 100 * static_cast<int64_t>(i + 1);
    nlohmann::json m = {{"consistency_accuracy", run[i].first}, {"psnr", run[i].second}};
    if (best_checkpoint_replaces(spec, state, m)) chosen.push_back(state.step);
  }
  // 0.959 is within 2·√(0.965·0.035/999) = 0.0116 of the top 0.965; 0.950 is not.
  EXPECT_EQ(chosen, (std::vector<int64_t>{100, 300, 600, 1200}));
  EXPECT_EQ(state.best_step, 1200);
  EXPECT_DOUBLE_EQ(state.best_metric, 0.959);
  EXPECT_DOUBLE_EQ(state.best_tie, 21.2);
  EXPECT_DOUBLE_EQ(state.top_metric, 0.965);

  // A new top that leaves the best outside the margin takes its place, even
  // at a lower PSNR; then an eligible lower PSNR does not.
  state.step = 1300;
  EXPECT_TRUE(best_checkpoint_replaces(spec, state, {{"consistency_accuracy", 0.99}, {"psnr", 15.0}}));
  state.step = 1400;
  EXPECT_FALSE(best_checkpoint_replaces(spec, state, {{"consistency_accuracy", 0.99}, {"psnr", 14.0}}));
  EXPECT_EQ(state.best_step, 1300);
  // Non-finite values never win, and leave the top as it was.
  EXPECT_FALSE(best_checkpoint_replaces(
      spec, state, {{"consistency_accuracy", std::numeric_limits<double>::quiet_NaN()}, {"psnr", 30.0}}));
  EXPECT_DOUBLE_EQ(state.top_metric, 0.99);

  // Without a tie metric: the metric alone, as before (0.965 at step 300 stays).
  LoopSpec plain = spec;
  plain.tie_metric.clear();
  TrainState alone;
  for (size_t i = 0; i < run.size(); ++i) {
    alone.step = 100 * static_cast<int64_t>(i + 1);
    best_checkpoint_replaces(plain, alone, {{"consistency_accuracy", run[i].first}, {"psnr", run[i].second}});
  }
  EXPECT_EQ(alone.best_step, 300);

  // The two fields survive state.json, and a state from before them reads as NaN.
  ts::TempDir dir;
  torch::nn::Linear lin(2, 2);
  save_checkpoint(dir.file("ckpt"), "best", CheckpointParts{lin.get(), {}, {}}, state);
  std::ifstream in(dir.file("ckpt/best/state.json"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const TrainState back = parse_train_state(text, "state.json");
  EXPECT_DOUBLE_EQ(back.top_metric, 0.99);
  EXPECT_DOUBLE_EQ(back.best_tie, 15.0);
  const TrainState old = parse_train_state(R"({"step": 3, "best_metric": 0.9, "best_step": 2})", "s");
  EXPECT_TRUE(std::isnan(old.top_metric));
  EXPECT_TRUE(std::isnan(old.best_tie));
  EXPECT_THROW(parse_train_state(R"({"top_metric": "x"})", "s"), InputError);
}

}  // namespace
