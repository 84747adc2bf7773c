// The Lipschitz constant L = ‖D‖² = λ_max(DᵀD) of the data-term gradient, by
// power iteration on a code-shaped vector (DESIGN.md: FISTA step η = 1/L).
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/fista.h"

namespace sparseloop {

struct PowerIterationResult {
  double lipschitz = 0.0;  ///< Rayleigh quotient ‖Dv‖² of the final unit vector
  int64_t iterations = 0;
};

/// Runs power iteration on DᵀD starting from `v` (a code-shaped tensor with
/// batch dim 1, e.g. (1, C, Hz, Wz)); `v` is updated in place to the new unit
/// vector so that the next call is warm-started. Stops after `max_iterations`
/// or when the estimate changes by less than `tolerance` (relative). The
/// estimate approaches L from below. Runs without autograd.
PowerIterationResult power_iteration(const SparseOperator& op, torch::Tensor& v,
                                     int64_t max_iterations, double tolerance = 0.0);

/// A deterministic start vector (fixed private seed, independent of the
/// global RNG so that refreshing L never shifts a training run's randomness).
torch::Tensor power_iteration_start(at::IntArrayRef shape, const torch::TensorOptions& options);

}  // namespace sparseloop
