// Opening a trained run for analysis, the same way for every family
// (docs/cli.md §4.6): its resolved configuration (config.toml, the family's
// [section] into the family's config struct), the shapes its model was built
// for (model_info.json, so the model is rebuilt without reading its data),
// and the weights file of a checkpoint.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/engine/config.h"

namespace sparseloop {

class RunDir;

/// A run folder, opened.
struct RunFolder {
  std::string dir;
  CommonTrainConfig common;
  nlohmann::json model_info;  ///< RUN/model_info.json
  std::string checkpoint;     ///< as asked: best | final | step-XXXXXXXX
  std::string weights;        ///< the weights file of that checkpoint
};

/// The weights file of `checkpoint` in RUN_DIR: final → model.safetensors;
/// best → checkpoints/best (final when the run never validated); step-N →
/// checkpoints/step-N. InputError naming --checkpoint and the file otherwise.
std::string checkpoint_weights(const std::string& run_dir, const std::string& checkpoint);

/// Opens RUN_DIR as a run of `family` (the [section] of its config.toml):
/// the common fields, model_info.json and the weights file; InputError when
/// the folder is not a run, is another family's, or misses a file.
RunFolder open_run(const std::string& run_dir, const std::string& checkpoint,
                   const std::string& family);

/// The family's fields of the run's config.toml, into `config` (its visit()).
template <class Config>
void read_family_config(const RunFolder& run, Config& config) {
  const std::string path = run.dir + "/config.toml";
  ValuesReader r(read_config_file(path), path);
  config.visit(r);
}

/// model_info[key] as an integer; InputError naming the file when absent.
int64_t model_info_int(const RunFolder& run, const std::string& key);

/// Loads the run's weights into `model` (names and shapes checked against
/// the file), moves it to `device` and sets evaluation mode.
void load_run_model(const RunFolder& run, torch::nn::Module& model, torch::Device device);

/// Writes RUN/model_info.json: what rebuilding the model needs besides its
/// configuration (image channels and size, classes, input dimension …).
void write_model_info(const RunDir& run, const nlohmann::json& info);

}  // namespace sparseloop
