// The training loop every family shares: batch order (resumable), progress
// with rate and ETA, metrics.jsonl, validation cadence and best-checkpoint
// tracking, periodic atomic checkpoints, --resume, --time-limit, and a clean
// stop on SIGINT/SIGTERM (checkpoint, then StopRequested). Families supply
// only a step and a validation function.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/data/sampler.h"
#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/engine/config.h"
#include "sparseloop/engine/progress.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/engine/run_report.h"

namespace sparseloop {

struct LoopSpec {
  int64_t dataset_size = 0;   ///< training samples
  int64_t batch_size = 0;
  int64_t epochs = 0;         ///< used when max_steps == 0
  int64_t max_steps = 0;      ///< 0: epochs × batches per epoch
  bool shuffle = true;
  bool drop_last = true;
  uint64_t seed = 0;
  std::string metric = "loss";  ///< validation key that decides "best"
  bool maximize = false;
  /// Ties in `metric` broken by a second validation key (maximized): a
  /// validation whose metric is within tie_margin(top) of the best value seen
  /// so far (top) is as good as any other such one, and the one with the
  /// higher tie metric is kept as "best" (best_checkpoint_replaces). Unset:
  /// `metric` alone decides.
  std::string tie_metric;
  std::function<double(double top)> tie_margin;
  int64_t log_every = 10;
  int64_t eval_every = 0;       ///< 0: at the end of every epoch
  int64_t checkpoint_every = 0; ///< 0: at every validation
  int64_t keep_checkpoints = 2;
  double time_limit = 0;        ///< seconds; 0: none
  std::string unit = "img";
  /// Validation metrics for the progress line (shortened names).
  std::vector<std::string> progress_keys;
  /// Training curves redrawn into the run folder after every validation
  /// (engine/run_report.h), so every run carries its curves as PNG.
  std::vector<CurvePanel> curves;
  /// Pictures of the model (tag, image as io/png.h takes) logged to
  /// TensorBoard at every validation, by rank 0 alone: they must not use
  /// collectives or the global RNG (resume stays exact).
  std::function<std::vector<std::pair<std::string, torch::Tensor>>()> pictures;
  /// Checks the fields the family reads from a resumed checkpoint's
  /// TrainState::extra (engine/state_extra.h), throwing InputError naming
  /// `source` (that state.json) for a damaged one; --resume then treats the
  /// checkpoint as damaged. Unset: the family reads none.
  std::function<void(const nlohmann::json& extra, const std::string& source)> check_extra;
};

/// Fills the cadence fields from the common flags.
LoopSpec loop_spec_from(const CommonTrainConfig& common);

/// Whether the validation metrics `m` at state.step make the new "best"
/// checkpoint; when they do, state's best fields are set to them. With
/// spec.tie_metric: the checkpoints whose metric is within the margin of the
/// top value seen so far are equally good, and the higher tie metric wins;
/// a best that a later top leaves outside the margin is replaced by the
/// validation that raised the top (the other eligible ones' weights are not
/// kept). Non-finite metrics never win.
bool best_checkpoint_replaces(const LoopSpec& spec, TrainState& state, const nlohmann::json& m);

/// Applies --threads and --seed and resolves --device (InputError when CUDA
/// is asked for and absent).
torch::Device apply_runtime(const CommonTrainConfig& common);

class TrainLoop {
 public:
  /// `step(state, indices)` trains on the batch `indices` and returns the
  /// metrics to log (numbers); it must not advance state.step itself.
  using StepFn = std::function<nlohmann::json(TrainState&, const torch::Tensor& indices)>;
  /// `validate(state)` returns metrics including spec.metric.
  using ValidateFn = std::function<nlohmann::json(TrainState&)>;

  TrainLoop(RunDir& run, CheckpointParts parts, LoopSpec spec);

  /// Restores the newest checkpoint (model, optimizers, RNG, position) and
  /// trims metrics.jsonl to it. Returns false when there is none.
  bool resume();

  /// Trains to the end (or the time limit); returns a summary with the last
  /// and best validation metrics. Throws StopRequested after checkpointing
  /// when a signal arrived, NumericalError when a step returns non-finite loss.
  nlohmann::json run(const StepFn& step, const ValidateFn& validate);

  TrainState& state() { return state_; }
  int64_t total_steps() const { return total_steps_; }
  const EpochSampler& sampler() const { return sampler_; }
  /// The last validation's metrics.
  const nlohmann::json& last_validation() const { return last_validation_; }

 private:
  void checkpoint(const std::string& name);
  /// Validates, logs and (with `track_best`) keeps the best checkpoint.
  nlohmann::json do_validate(const ValidateFn& validate, bool track_best = true);

  RunDir& run_;
  CheckpointParts parts_;
  LoopSpec spec_;
  EpochSampler sampler_;
  TrainState state_;
  int64_t total_steps_ = 0;
  nlohmann::json last_validation_ = nlohmann::json::object();
};

}  // namespace sparseloop
