#include "sparseloop/engine/loop.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <thread>

#include "sparseloop/engine/distributed.h"
#include "sparseloop/engine/gradient_sync.h"
#include "sparseloop/engine/state_extra.h"
#include "sparseloop/util/all_finite.h"
#include "sparseloop/util/compat.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/log.h"
#include "sparseloop/util/signals.h"

namespace sparseloop {

namespace {

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

std::string short_metrics(const nlohmann::json& m, const std::vector<std::string>& keys) {
  std::ostringstream s;
  s.precision(4);
  for (const auto& k : keys) {
    if (!m.contains(k) || !m[k].is_number()) continue;
    if (s.tellp() > 0) s << " ";
    s << k << " " << m[k].get<double>();
  }
  return s.str();
}

/// A fault planted on purpose, for the tests of what a diverging run does
/// (docs/reliability.md): SPARSELOOP_INJECT_NAN=<term>@<step> with term
/// loss (the step's first floating-point metric becomes NaN), grad (the
/// first parameter's gradient becomes +Inf) or weight (the first parameter
/// becomes NaN), planted after that step's update. Unset: nothing.
struct InjectedFault {
  std::string term;
  int64_t step = -1;
};

InjectedFault injected_fault() {
  InjectedFault f;
  const char* v = std::getenv("SPARSELOOP_INJECT_NAN");
  if (!v || !*v) return f;
  const std::string s = v;
  const auto at = s.find('@');
  f.term = s.substr(0, at);
  if (at != std::string::npos) f.step = std::atoll(s.c_str() + at + 1);
  require((f.term == "loss" || f.term == "grad" || f.term == "weight") && f.step > 0,
          "SPARSELOOP_INJECT_NAN='" + s + "': expected loss@STEP, grad@STEP or weight@STEP");
  return f;
}

void plant(const InjectedFault& f, torch::nn::Module& model, nlohmann::json& metrics) {
  torch::NoGradGuard no_grad;
  auto params = model.parameters();
  if (f.term == "loss") {
    for (auto it = metrics.begin(); it != metrics.end(); ++it)
      if (it.value().is_number_float()) {
        it.value() = std::nan("");
        return;
      }
  } else if (f.term == "grad" && !params.empty()) {
    if (!params[0].grad().defined()) params[0].mutable_grad() = torch::zeros_like(params[0]);
    params[0].mutable_grad().view(-1)[0].fill_(std::numeric_limits<double>::infinity());
  } else if (f.term == "weight" && !params.empty()) {
    params[0].view(-1)[0].fill_(std::nan(""));
  }
}

/// The first gradient or parameter that is not finite, as "the gradient of
/// NAME" / "weight NAME"; "" when all are. When all are (every step but the
/// last), one read of each tensor in place and at most one device sync
/// (util/all_finite.h); the per-tensor search runs only once something is not.
std::string non_finite_tensor(const torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  const auto named = model.named_parameters();
  std::vector<torch::Tensor> tensors;
  for (const auto& p : named) {
    tensors.push_back(p.value());
    tensors.push_back(p.value().grad());
  }
  if (all_finite(tensors)) return "";
  for (const auto& p : named) {
    if (p.value().grad().defined() && !torch::isfinite(p.value().grad()).all().item<bool>())
      return "the gradient of " + p.key();
    if (!torch::isfinite(p.value()).all().item<bool>()) return "weight " + p.key();
  }
  return "";
}

/// Why the loop stops after this step, agreed by every rank: a signal any rank
/// received (SIGINT before SIGTERM), or a time limit any rank reached. Ranks
/// see signals and clocks at different moments; they must stop at the same step.
struct Stop {
  int signal = 0;
  bool time_up = false;
};

Stop agree_on_stop(int signal, bool time_up) {
  if (!distributed()) return {signal, time_up};
  auto flags = torch::tensor({signal == SIGINT ? 1.0 : 0.0, signal == SIGTERM ? 1.0 : 0.0,
                              signal != 0 && signal != SIGINT && signal != SIGTERM ? 1.0 : 0.0,
                              time_up ? 1.0 : 0.0},
                             torch::kDouble);
  world().allreduce_sum(flags);
  Stop s;
  if (flags[0].item<double>() > 0) s.signal = SIGINT;
  else if (flags[1].item<double>() > 0) s.signal = SIGTERM;
  else if (flags[2].item<double>() > 0) s.signal = signal ? signal : SIGTERM;
  s.time_up = flags[3].item<double>() > 0;
  return s;
}

}  // namespace

LoopSpec loop_spec_from(const CommonTrainConfig& c) {
  LoopSpec s;
  s.epochs = c.epochs;
  s.max_steps = c.max_steps;
  s.batch_size = c.batch_size;
  s.seed = c.seed;
  s.log_every = c.log_every;
  s.eval_every = c.eval_every;
  s.checkpoint_every = c.checkpoint_every;
  s.keep_checkpoints = c.keep_checkpoints;
  s.time_limit = c.time_limit;
  return s;
}

torch::Device apply_runtime(const CommonTrainConfig& c) {
  int threads = static_cast<int>(c.threads);
  if (threads <= 0) {
    // All cores, shared by the ranks that run on this machine.
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const char* local = std::getenv("LOCAL_WORLD_SIZE");
    const int ranks_here = local ? std::max(1, std::atoi(local)) : 1;
    threads = std::max(1, cores / ranks_here);
  }
  torch::set_num_threads(threads);
  torch::manual_seed(c.seed);
  torch::Device device = resolve_device(c.device);
  set_compute_precision(c.precision);
  if (c.precision == Precision::kBf16 && device.is_cpu() && !cpu_has_native_bf16() &&
      world().root())
    say("note: --precision bf16 on a CPU without AVX-512-BF16 or AMX: its products are "
        "emulated in fp32 (bf16 rounding, fp32 speed at best; docs/performance.md)");
  DistributedOptions d;
  d.backend = c.backend;
  d.timeout = c.dist_timeout;
  d.init = c.dist_init;
  join_world(d, device);
  return device;
}

TrainLoop::TrainLoop(RunDir& run, CheckpointParts parts, LoopSpec spec)
    : run_(run),
      parts_(std::move(parts)),
      spec_(std::move(spec)),
      sampler_(spec_.dataset_size, spec_.batch_size, spec_.shuffle, spec_.seed, spec_.drop_last) {
  require(spec_.batch_size > 0, "--batch-size must be positive");
  require(sampler_.batches_per_epoch() > 0,
          "--batch-size " + std::to_string(spec_.batch_size) + " is larger than the " +
              std::to_string(spec_.dataset_size) + " training samples");
  total_steps_ = spec_.max_steps > 0 ? spec_.max_steps
                                     : spec_.epochs * sampler_.batches_per_epoch();
  require(total_steps_ > 0, "give --epochs or --max-steps (or a --preset that sets them)");
}

void TrainLoop::checkpoint(const std::string& name) {
  // Every rank holds the same state; rank 0 alone writes it.
  if (world().root()) save_checkpoint(run_.checkpoints(), name, parts_, state_);
}

bool TrainLoop::resume() {
  if (world().root()) recover_checkpoints(run_.checkpoints());
  const std::vector<std::string> names = step_checkpoints(run_.checkpoints());
  if (names.empty()) {
    // Killed before its first checkpoint: start over, without the lines the
    // killed attempt logged.
    run_.truncate_metrics_after(0);
    return false;
  }
  // The newest checkpoint that reads whole. One damaged by a disk error or a
  // person is passed over, loudly: the run goes on from the one before it
  // (each load replaces everything a checkpoint holds, so a partial read of
  // the damaged one leaves nothing behind).
  std::string damaged;
  for (const std::string& name : names) {
    try {
      state_ = load_checkpoint(run_.checkpoints(), name, parts_);
      // What the loop and the family read from state.json's `extra`, typed.
      const std::string source = run_.checkpoints() + "/" + name + "/state.json";
      check_extra_object(state_.extra, "last_validation", source);
      if (spec_.check_extra) spec_.check_extra(state_.extra, source);
    } catch (const InputError& e) {
      say("warning: checkpoint " + name + " is damaged, skipped: " + e.what());
      if (damaged.empty()) damaged = e.what();
      continue;
    }
    if (name != names.front())
      say("warning: resuming from " + name + ", the newest checkpoint that reads whole (" +
          names.front() + " is damaged)");
    run_.truncate_metrics_after(state_.step);
    if (state_.extra.contains("last_validation"))
      last_validation_ = state_.extra["last_validation"];
    return true;
  }
  throw InputError(damaged + " (no older checkpoint in " + run_.checkpoints() +
                   " reads whole either)");
}

nlohmann::json TrainLoop::do_validate(const ValidateFn& validate, bool track_best) {
  nlohmann::json m = validate(state_);
  last_validation_ = m;
  state_.extra["last_validation"] = m;
  nlohmann::json record = m;
  record["step"] = state_.step;
  record["epoch"] = state_.epoch;
  record["split"] = "val";
  run_.log(record);
  if (world().root()) {
    write_training_curves(run_.path(), spec_.curves);
    if (spec_.pictures) {
      LocalScope local;
      for (const auto& [tag, image] : spec_.pictures()) run_.image(tag, image, state_.step);
    }
  }
  if (track_best && best_checkpoint_replaces(spec_, state_, m)) checkpoint("best");
  return m;
}

bool best_checkpoint_replaces(const LoopSpec& spec, TrainState& state, const nlohmann::json& m) {
  if (!m.contains(spec.metric) || !m[spec.metric].is_number()) return false;
  const double v = m[spec.metric].get<double>();
  if (!std::isfinite(v)) return false;
  // Orient both metrics so that larger is better.
  const double sign = spec.maximize ? 1.0 : -1.0;
  auto take = [&](double tie) {
    state.best_metric = v;
    state.best_step = state.step;
    state.best_tie = tie;
    return true;
  };
  const bool ties = !spec.tie_metric.empty() && spec.tie_margin && m.contains(spec.tie_metric) &&
                    m[spec.tie_metric].is_number() &&
                    std::isfinite(m[spec.tie_metric].get<double>());
  if (!ties) {
    if (state.best_step >= 0 && !(sign * v > sign * state.best_metric)) return false;
    return take(std::numeric_limits<double>::quiet_NaN());
  }
  const double tie = m[spec.tie_metric].get<double>();
  // A checkpoint from before the rule (top not recorded) had the top itself.
  double top = std::isfinite(state.top_metric) ? state.top_metric : state.best_metric;
  if (state.best_step < 0 || sign * v > sign * top) top = v;
  state.top_metric = top;
  if (state.best_step < 0) return take(tie);
  const double margin = spec.tie_margin(top);
  auto eligible = [&](double x) { return sign * x >= sign * top - margin; };
  if (!eligible(v)) return false;
  // best_tie NaN (a best from before the rule): any eligible validation replaces it.
  const bool best_still_eligible = eligible(state.best_metric);
  if (best_still_eligible && !(tie > state.best_tie) && std::isfinite(state.best_tie))
    return false;
  return take(tie);
}

nlohmann::json TrainLoop::run(const StepFn& step, const ValidateFn& validate) {
  const int64_t per_epoch = sampler_.batches_per_epoch();
  const int64_t eval_every = spec_.eval_every > 0 ? spec_.eval_every : per_epoch;
  Progress progress("train", total_steps_, spec_.unit);
  const auto start = std::chrono::steady_clock::now();
  int64_t since_checkpoint = 0;
  bool stopped_by_time = false;
  Traffic step_traffic;  // what the training steps of this session sent
  const InjectedFault fault = injected_fault();
  int64_t steps_run = 0;
  // Every rank starts from rank 0's weights (the same seed gives the same
  // initialization, but nothing else guarantees it).
  broadcast_module(*parts_.model);
  while (state_.step < total_steps_) {
    if (state_.batch >= per_epoch) {
      state_.batch = 0;
      ++state_.epoch;
    }
    auto indices = sampler_.batch(state_.epoch, state_.batch);
    const Traffic before = world().traffic();
    nlohmann::json metrics = step(state_, indices);
    step_traffic.collectives += world().traffic().collectives - before.collectives;
    step_traffic.bytes += world().traffic().bytes - before.bytes;
    ++steps_run;
    ++state_.step;
    ++state_.batch;
    ++since_checkpoint;
    if (fault.step == state_.step) plant(fault, *parts_.model, metrics);
    // Diverged: stop before this step is logged or checkpointed, so that the
    // newest checkpoint is the last good state. A loss term first (the cause
    // users can act on), then gradients and weights (an update that blew up
    // while its loss still read finite).
    auto diverged = [&](const std::string& term, const std::string& value) {
      const std::string last = latest_checkpoint(run_.checkpoints());
      return NumericalError("training diverged at step " + std::to_string(state_.step) + ": " +
                            term + " is " + value +
                            "; lower the learning rate or check the data (the last good "
                            "checkpoint is " +
                            (last.empty() ? std::string("none yet")
                                          : run_.checkpoints() + "/" + last) +
                            ")");
    };
    for (auto it = metrics.begin(); it != metrics.end(); ++it) {
      if (it.value().is_number_float() && !std::isfinite(it.value().get<double>()))
        throw diverged(it.key(), std::isnan(it.value().get<double>()) ? "nan" : "inf");
    }
    if (const std::string bad = non_finite_tensor(*parts_.model); !bad.empty())
      throw diverged(bad, "not finite (NaN or Inf)");
    if (spec_.log_every > 0 && state_.step % spec_.log_every == 0) {
      nlohmann::json record = metrics;
      record["step"] = state_.step;
      record["epoch"] = state_.epoch;
      record["split"] = "train";
      run_.log(record);
    }
    const bool at_eval = state_.step % eval_every == 0 || state_.step == total_steps_;
    if (at_eval) do_validate(validate);
    const bool at_checkpoint = spec_.checkpoint_every > 0
                                   ? state_.step % spec_.checkpoint_every == 0
                                   : at_eval;
    if (at_checkpoint) {
      checkpoint(step_name(state_.step));
      if (world().root()) prune_checkpoints(run_.checkpoints(), spec_.keep_checkpoints);
      since_checkpoint = 0;
    }
    world().report_step(state_.step);
    std::string line = short_metrics(metrics, spec_.progress_keys);
    const std::string val = short_metrics(last_validation_, spec_.progress_keys);
    if (!val.empty()) line += (line.empty() ? "" : " | ") + std::string("val ") + val;
    progress.update(state_.step, indices.numel(), line);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const Stop stop = agree_on_stop(stop_signal(),
                                    spec_.time_limit > 0 && elapsed >= spec_.time_limit);
    if (stop.signal) {
      if (since_checkpoint > 0) checkpoint(step_name(state_.step));
      progress.finish("interrupted at step " + std::to_string(state_.step));
      throw StopRequested(stop.signal);
    }
    if (stop.time_up && state_.step < total_steps_) {
      stopped_by_time = true;
      // The checkpoint first: it must hold the state an uninterrupted run has
      // after this step, and a validation changes state (CSC layers' power
      // iterations and BatchNorm statistics in model buffers, a family's
      // counters such as VDL's patience, the best metric), which a run that
      // goes on without stopping here never sees: resumed from a checkpoint
      // written after it, the run drifted from the uninterrupted one.
      if (since_checkpoint > 0) checkpoint(step_name(state_.step));
      // Then the numbers where the run stopped, for the log and the summary:
      // outside the validation cadence, so not a candidate for "best" (an
      // uninterrupted run never compared this step; a resumed one must pick
      // the same best checkpoint).
      if (!at_eval) do_validate(validate, /*track_best=*/false);
      break;
    }
  }
  progress.finish(short_metrics(last_validation_, spec_.progress_keys));
  nlohmann::json summary;
  summary["steps"] = state_.step;
  summary["epochs"] = static_cast<double>(state_.step) / static_cast<double>(per_epoch);
  summary["last"] = last_validation_;
  summary["best_step"] = state_.best_step;
  summary["best_" + spec_.metric] = state_.best_metric;
  summary["stopped_by_time_limit"] = stopped_by_time;
  summary["images_per_second"] = progress.rate();
  summary["train_seconds"] = progress.elapsed();
  if (distributed() && steps_run > 0) {
    // This rank's share of the step's communication (docs/performance.md).
    summary["ranks"] = world().size();
    summary["collectives_per_step"] =
        static_cast<double>(step_traffic.collectives) / static_cast<double>(steps_run);
    summary["communication_bytes_per_step"] =
        static_cast<double>(step_traffic.bytes) / static_cast<double>(steps_run);
  }
  return summary;
}

}  // namespace sparseloop
