// `sparseloop bench --case csc-layer` (docs/cli.md §7): one CscConv2d forward and
// forward+backward, timed, next to the same layer computed with the plain
// conv_transpose2d formulation of D (our solver) and with the whole layer
// written plainly (plain tensor ops for every FISTA step, autograd through
// them, as the SDNet authors write it), with the codes' error against a
// float64 solve of the same problem; with `--backward checkpointed`, also
// next to autograd's unrolled backward in the same run (time and memory).
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

struct CscBenchOptions {
  int64_t in = 64, out = 64, kernel = 3, stride = 1, size = 32, batch = 32;
  int64_t iterations = 10;       ///< unrolled FISTA steps
  int repeats = 5;
  std::string backward = "unrolled";  ///< unrolled | checkpointed | implicit
  int64_t checkpoints = 2;       ///< checkpointed: states held at once
  bool reference = true;         ///< also time the two plain formulations
  torch::Device device = torch::kCPU;
};

/// Returns {"forward_ms", "forward_backward_ms", "peak_mib", "peak_tensor_mib",
/// "rel_error", "reference_forward_ms", "reference_forward_backward_ms",
/// "speedup_forward", "speedup_forward_backward", "plain_forward_ms",
/// "plain_forward_backward_ms", "speedup_vs_plain_forward",
/// "speedup_vs_plain_forward_backward", "plain_rel_error", "gflops_per_s_forward",
/// "flop_per_step", "bytes_per_step", "machine", "floor_forward_ms",
/// "fraction_of_floor_forward", …; checkpointed: "autograd_…" columns}.
nlohmann::json bench_csc_layer(const CscBenchOptions& options);

}  // namespace sparseloop
