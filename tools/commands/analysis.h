// The commands that inspect a trained run (CLI.md "eval" and "Analysis
// commands"). Each reads RUN_DIR/config.toml, finds the model's family and
// calls that family's handler; a family without a handler for a command
// gets a one-line error (exit 2).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli.h"
#include "sparseloop/train/families.h"

namespace sparseloop::cli {

/// Flags shared by every analysis command.
struct RunArgs {
  CommonFlags common;
  std::string run;         ///< --run RUN_DIR
  std::string data;        ///< --data (default: the run's)
  std::string data_dir;    ///< --data-dir (default: the run's)
  std::string out;         ///< --out folder for PNG/JSON (default: RUN_DIR/<command>)
  std::string checkpoint = "best";  ///< best | final | step-XXXXXXXX
  int64_t batch_size = 256;
  int64_t limit = 0;       ///< evaluate at most this many test samples (0: all)
};

struct EvalArgs : RunArgs {
  std::string inception;  ///< TorchScript Inception network for FID/IS
};
struct ReconstructArgs : RunArgs {
  int64_t count = 32;
};
struct DenoiseArgs : RunArgs {
  double sigma = 0.5;
  std::string lambdas = "0.01,0.1,0.5";
};
struct RobustArgs : RunArgs {
  std::string corruption = "gaussian";
  std::string levels;          ///< empty: SDNet's levels for the corruption
  std::string lambdas = "0.1:1.4:14";
  std::string cifar10c_dir;    ///< read CIFAR-10-C .npy files instead of corrupting
  std::string calibration = "auto";  ///< where the λ fit's best λ comes from (SDNet)
  int64_t calibration_size = 1000;   ///< calibration images
  bool float_images = false;         ///< no uint8 truncation of corrupted images
  std::vector<std::string> baselines;  ///< other runs evaluated on the same images
};
struct InterpolateArgs : RunArgs {
  int64_t pairs = 8;
  int64_t steps = 8;
};
struct PcaArgs : RunArgs {
  int64_t components = 4;
  int64_t per_component = 8;
};
struct SimilarityArgs : RunArgs {};
struct AtomsArgs : RunArgs {
  int64_t count = 0;  ///< 0: all atoms
};
struct ProbeArgs : RunArgs {
  std::string shots = "1,2,5,10,20,50,100";
  int64_t epochs = 100;
};
struct ReportArgs : RunArgs {};

/// Each family fills the handlers it supports (returning the exit code).
struct FamilyHandlers {
  std::function<int(const EvalArgs&)> eval;
  std::function<int(const ReconstructArgs&)> reconstruct;
  std::function<int(const DenoiseArgs&)> denoise;
  std::function<int(const RobustArgs&)> robust;
  std::function<int(const InterpolateArgs&)> interpolate;
  std::function<int(const PcaArgs&)> pca;
  std::function<int(const SimilarityArgs&)> similarity;
  std::function<int(const AtomsArgs&)> atoms;
  std::function<int(const ProbeArgs&)> probe;
  std::function<int(const ReportArgs&)> report;
};

/// The VDL family's handlers (tools/commands/vdl_commands.cpp).
FamilyHandlers vdl_handlers();
/// SDNet / ResNet handlers (tools/commands/sdnet_commands.cpp).
FamilyHandlers sdnet_handlers();

/// The handlers of every family (tools/commands/analysis.cpp).
const std::map<ModelFamily, FamilyHandlers>& family_handlers();

/// --out or RUN_DIR/<command>.
std::string output_dir(const RunArgs& args, const std::string& command);

}  // namespace sparseloop::cli
