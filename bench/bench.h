// `sparseloop bench` (docs/cli.md §7): the benchmark cases, each timed with
// medians and reported as one JSON object. Tests check correctness, not
// time; the numbers go to docs/performance.md.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

/// One `sparseloop bench` invocation; sizes of 0 take the case's default.
struct BenchRequest {
  std::string bench_case = "csc-layer";  ///< csc-layer | csc-ctrl-step | vdl-inference | sdnet-step
  int64_t in = 64, out = 64, kernel = 3, stride = 1, size = 32;
  int64_t batch = 0;       ///< 0: csc-layer 32 (CPU) / 128 (CUDA), csc-ctrl-step 64, vdl-inference 250, sdnet-step 128
  int64_t iterations = 0;  ///< 0: csc-layer 10, csc-ctrl-step 2, vdl-inference 200
  int repeats = 5;
  std::string backward = "unrolled";  ///< csc-layer: unrolled | checkpointed | implicit
  int64_t checkpoints = 2;            ///< csc-layer, checkpointed: states held at once
  std::string model;                  ///< csc-ctrl-step: csc-ctrl | ctrl; sdnet-step: the model
  int64_t width = 64, channels = 1;
  bool reference = true;              ///< also time the reference formulation / baseline
  torch::Device device = torch::kCPU;
  std::string profile;  ///< non-empty: a Chrome trace of the whole case written here
};

/// Runs the case; InputError names the flag of a bad value.
nlohmann::json run_bench(const BenchRequest& request);

}  // namespace sparseloop
