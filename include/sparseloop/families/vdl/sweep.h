// The sparsity–PSNR trade-off of the VDL family over λ (Evtimova & LeCun
// 2022, Figure 4): for every model and λ, a run trained from the data's
// preset (`<data>-<model>`) with λ replaced, its best checkpoint evaluated on
// the test split, and test PSNR plotted against the fraction of zero code
// entries. Runs that already hold eval.json are reused and interrupted ones
// resumed, so an interrupted sweep continues where it stopped.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sparseloop/engine/config.h"

namespace sparseloop {

struct VdlSweepRequest {
  std::vector<std::string> models{"sdl", "vdl"};
  std::string data = "mnist";  ///< mnist | patches
  std::string data_dir;        ///< empty: the embedded data
  std::vector<double> lambdas{0.002, 0.005, 0.01, 0.02, 0.05};
  std::string out;             ///< one run per (model, λ), sweep.json, sweep.png
  int64_t epochs = 0;          ///< per run (0: the preset's)
  int64_t max_steps = 0;       ///< per run (0: use epochs)
  ConfigValues options;        ///< any `sparseloop train` flag for every run
  std::string device = "auto";
  uint64_t seed = 0;
  int64_t threads = 0;
};

/// Trains and evaluates every (model, λ); writes sweep.json and sweep.png into
/// `out` and returns the JSON. StopRequested propagates after the interrupted
/// run has checkpointed (run the same sweep again to continue).
nlohmann::json vdl_sweep(const VdlSweepRequest& request);

}  // namespace sparseloop
