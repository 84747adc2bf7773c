// `sparseloop bench --case csc-layer` (docs/cli.md §7): one CscConv2d forward and
// forward+backward, timed, next to the same layer computed with the plain
// conv_transpose2d formulation of D, with the codes' error against a
// float64 solve of the same problem.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

struct CscBenchOptions {
  int64_t in = 64, out = 64, kernel = 3, stride = 1, size = 32, batch = 32;
  int64_t iterations = 10;       ///< unrolled FISTA steps
  int repeats = 5;
  std::string backward = "unrolled";  ///< unrolled | implicit
  bool reference = true;         ///< also time the conv_transpose2d formulation
  torch::Device device = torch::kCPU;
};

/// Returns {"forward_ms", "forward_backward_ms", "peak_mib", "rel_error",
/// "reference_forward_ms", "reference_forward_backward_ms", "speedup_forward",
/// "speedup_forward_backward", "gflops_forward", …}.
nlohmann::json bench_csc_layer(const CscBenchOptions& options);

}  // namespace sparseloop
