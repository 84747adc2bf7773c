// `sparseloop code` (docs/cli.md): the LASSO of every sample of a tensor file
// under a dictionary file (convolutional or linear), solved by proximal
// gradient (sparse/lasso.h), the codes and reconstructions written back as
// safetensors.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

struct CodeRequest {
  std::string dictionary;  ///< safetensors with 'weight': (C, M, k, k) conv or (C, d) linear
  std::string input;       ///< safetensors with 'x': (B, M, H, W) or (B, d)
  std::string output;      ///< safetensors to write 'z' and 'x_hat'
  double lambda = 0.1;
  int64_t iterations = 100;  ///< exactly (tolerance 0) or at most
  /// fista/ista: per-sample relative change; cd: per-sample KKT violation
  /// relative to ‖Dᵀx_i‖_∞ (0: run to a fixed point)
  double tolerance = 0.0;
  std::string solver = "fista";  ///< fista | ista | cd (coordinate descent, linear, CPU)
  int64_t stride = 1, padding = 0;
  bool nonnegative = false;
  double mu = 0.0;
  double step = 0.0;  ///< 0: 1/L by power iteration
  torch::Device device = torch::kCPU;
};

/// Solves, writes `output`, and returns {objective, sparsity, psnr,
/// iterations, lipschitz, step, kkt_violation, mean_iterations, solver,
/// gram_form}; lipschitz and step are 0 for cd (it needs no step). InputError names the flag or
/// file of bad input.
nlohmann::json code_files(const CodeRequest& request);

}  // namespace sparseloop
