// `sparseloop bench --case csc-ctrl-step`: one full closed-loop training
// round (ascent + descent) timed on random images.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

struct CtrlBenchOptions {
  std::string model = "csc-ctrl";  ///< csc-ctrl | ctrl
  int64_t channels = 1, size = 32, batch = 512, width = 64, fista_steps = 2;
  int repeats = 5;
  bool labels = true;  ///< class-conditional objective with 10 classes
  torch::Device device = torch::kCPU;
};

/// {"step_ms" (median), "images_per_second", "peak_mib", "forward_ms" (f, g, f
/// without grad), …}.
nlohmann::json bench_ctrl_step(const CtrlBenchOptions& options);

}  // namespace sparseloop
