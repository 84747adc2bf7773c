// The model names of CLI.md and the family each belongs to; every command
// that takes --model or --run dispatches on this.
#pragma once

#include <string>
#include <vector>

namespace sparseloop {

enum class ModelFamily {
  kCtrl,   ///< csc-ctrl, ctrl: closed-loop transcription autoencoders
  kSdnet,  ///< sdnet18(-all), sdnet34(-all), resnet18, resnet34: classifiers
  kVdl,    ///< sdl, vdl, sdl-nl, vdl-nl: sparse autoencoders
};

/// The family of `model`; InputError naming `flag` and the valid names otherwise.
ModelFamily family_of_model(const std::string& model, const std::string& flag = "--model");
const std::vector<std::string>& model_names();
const char* family_title(ModelFamily f);

/// The model named in RUN_DIR/config.toml; InputError when the run is missing.
std::string model_of_run(const std::string& run_dir);

}  // namespace sparseloop
