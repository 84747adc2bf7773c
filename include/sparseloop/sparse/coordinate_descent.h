// Cyclic coordinate descent for the linear (elastic-net) LASSO in Gram form,
//   min_z ½ zᵀGz − bᵀz + λ‖z‖₁ + μ/2‖z‖²  (z ≥ 0 optionally),
// which is ½‖x − Dz‖² + g(z) up to the constant ½‖x‖² when G = DᵀD and
// b = Dᵀx (Friedman, Hastie & Tibshirani 2010, "Regularization paths for
// generalized linear models via coordinate descent", §2.2 covariance updates
// and the active-set cycling of §2.6).
//
// Why by hand: neither LibTorch nor any library this project links offers a
// LASSO coordinate descent, and a coordinate update is a scalar recursion (each
// coordinate sees the previous one's update) that tensor ops cannot express
// without one dispatch per coordinate. On a linear dictionary with few atoms
// it beats proximal gradient by an order of magnitude at equal objective
// (docs/performance.md, `sparseloop code`): it touches only the support's
// columns of G, while a FISTA step is a dense (B×k)·(k×k) product.
//
// The problem supplies G and b; the solver knows nothing about where they
// come from (lasso.h builds them for a linear dictionary).
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/prox.h"

namespace sparseloop {

struct CoordinateDescentOptions {
  /// Cap on sweeps per sample (a sweep: one pass over all coordinates, or one
  /// over the support while the support is being refined).
  TORCH_ARG(int64_t, max_sweeps) = 1000;
  /// A sample stops when its KKT violation (below) is ≤ tolerance·‖b_i‖_∞;
  /// 0: only when a full sweep changes no coordinate (a fixed point in
  /// floating point) or at max_sweeps.
  TORCH_ARG(double, tolerance) = 0.0;
};

struct CoordinateDescentResult {
  torch::Tensor z;                ///< (B, k) codes, the dtype of b
  torch::Tensor sweeps;           ///< (B,) int64 on the CPU: sweeps each sample ran
  /// (B,) double on the CPU: each sample's largest KKT violation relative to
  /// ‖b_i‖_∞, with r = b − Gz − μz: |r_j − λ sign z_j| on the support,
  /// (|r_j| − λ)₊ off it ((r_j − λ)₊ when non-negative).
  torch::Tensor kkt;
};

/// Solves every row of b (B, k) against G (k, k), symmetric positive
/// semi-definite; CPU, float32 or float64; rows in parallel (at::parallel_for).
/// A coordinate with G_jj + μ = 0 (a zero atom) stays 0.
CoordinateDescentResult coordinate_descent_lasso(const torch::Tensor& gram, const torch::Tensor& b,
                                                 const ProxOptions& penalty,
                                                 const CoordinateDescentOptions& options);

}  // namespace sparseloop
