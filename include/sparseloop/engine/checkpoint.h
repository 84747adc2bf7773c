// Checkpoints that make `--resume` exact: model parameters and buffers,
// optimizer state, learning-rate schedule position, RNG states and the data
// order (epoch, batch), plus free-form trainer state. Each checkpoint is a
// folder written to a temporary name, fsync'd, then renamed, so a crash or
// signal never leaves a half-written checkpoint or destroys the previous one:
//   checkpoints/step-00001200/{model.safetensors, optimizer-0.pt, state.json}
#pragma once

#include <string>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

/// Position of a run and everything that is not a tensor of the model.
struct TrainState {
  int64_t step = 0;    ///< optimizer steps taken
  int64_t epoch = 0;   ///< current epoch
  int64_t batch = 0;   ///< next batch within the epoch
  double best_metric = 0;  ///< the best checkpoint's validation metric
  int64_t best_step = -1;
  /// With LoopSpec::tie_metric: the highest metric seen at any validation
  /// (the best checkpoint's may be below it, within the tie margin) and the
  /// best checkpoint's tie metric. NaN: not recorded (older checkpoints).
  double top_metric = std::numeric_limits<double>::quiet_NaN();
  double best_tie = std::numeric_limits<double>::quiet_NaN();
  nlohmann::json extra = nlohmann::json::object();  ///< trainer-specific
};

/// Everything a checkpoint holds for one run.
struct CheckpointParts {
  torch::nn::Module* model = nullptr;
  std::vector<torch::optim::Optimizer*> optimizers;
  /// Extra named tensors (e.g. an averaged copy of the weights).
  std::vector<std::pair<std::string, torch::Tensor*>> tensors;
};

/// Writes checkpoints/<name>/ atomically (name: "step-%08d" or "best").
/// The global CPU generator's state is saved too; no trainer draws from a
/// CUDA generator (noise and augmentation come from the named CPU streams of
/// util/random.h, functions of seed and step).
void save_checkpoint(const std::string& checkpoints_dir, const std::string& name,
                     const CheckpointParts& parts, const TrainState& state);

/// Loads checkpoints/<name>/ into `parts` and returns its state, restoring RNG
/// states. InputError names the folder when it is missing or damaged.
TrainState load_checkpoint(const std::string& checkpoints_dir, const std::string& name,
                           const CheckpointParts& parts);

/// Reads a checkpoint's state.json text (`source` names it in messages).
/// Keys absent keep TrainState's defaults; a value of the wrong type or
/// range, or text that is not a JSON object, is an InputError ("damaged").
TrainState parse_train_state(const std::string& text, const std::string& source);

/// Puts a checkpoints folder back in order after a writer died mid-save
/// (SIGKILL, power loss): unfinished `.tmp-*` folders are removed, and a
/// checkpoint moved aside (`.old-<name>-<pid>`) whose replacement never took
/// its name gets it back. Called by the training loop before it resumes.
void recover_checkpoints(const std::string& checkpoints_dir);

/// Name of the newest step-* checkpoint, or "" when none.
std::string latest_checkpoint(const std::string& checkpoints_dir);

/// Every step-* checkpoint folder, newest first (damaged ones included).
std::vector<std::string> step_checkpoints(const std::string& checkpoints_dir);

/// Deletes step-* checkpoints beyond the newest `keep`.
void prune_checkpoints(const std::string& checkpoints_dir, int64_t keep);

/// Module weights only (parameters and buffers, names as named_parameters()).
void save_weights(const std::string& path, const torch::nn::Module& model,
                  const std::map<std::string, std::string>& metadata = {});
/// Loads weights by name; InputError names the file and the first missing or
/// mis-shaped tensor. Buffers whose shape changed (power-iteration state) are
/// resized.
void load_weights(const std::string& path, torch::nn::Module& model);

}  // namespace sparseloop
