// FISTA / ISTA for  min_z ½‖x − Dz‖² + g(z)  (Beck & Teboulle 2009, Alg. 2).
//
// The loop knows nothing about convolutions: a layer supplies the operator
// pair {D, Dᵀ} (SparseOperator) and the prox (prox.h); conv and linear layers
// differ only there (the SPORCO idea: algorithm separate from problem).
#pragma once

#include <functional>

#include <torch/torch.h>

#include "sparseloop/sparse/prox.h"

namespace sparseloop {

/// The operator pair of a dictionary. `synthesis` is D (codes → signal),
/// `analysis` is its adjoint Dᵀ (signal → codes). Both map batches (dim 0).
struct SparseOperator {
  std::function<torch::Tensor(const torch::Tensor&)> synthesis;
  std::function<torch::Tensor(const torch::Tensor&)> analysis;
};

struct FistaOptions {
  /// Step η (normally 1/L or a fraction of it). Must be > 0.
  TORCH_ARG(double, step) = 1.0;
  /// Unrolled mode: exactly this many iterations, differentiable by autograd.
  /// Used when tolerance == 0.
  TORCH_ARG(int64_t, steps) = 2;
  /// Tolerance mode (> 0): a sample stops once ‖z_k − z_{k−1}‖/‖z_{k−1}‖ <
  /// tolerance; its code is then frozen while the others continue.
  TORCH_ARG(double, tolerance) = 0.0;
  /// Cap on iterations in tolerance mode.
  TORCH_ARG(int64_t, max_steps) = 1000;
  /// Nesterov momentum (FISTA); false gives ISTA.
  TORCH_ARG(bool, momentum) = true;
};

struct FistaResult {
  torch::Tensor z;        ///< codes, shape of Dᵀx
  int64_t iterations = 0; ///< iterations run (the largest over samples)
  torch::Tensor sample_iterations;  ///< (B,) int64: iterations each sample ran
};

/// Solves the problem for every sample of the batch `x`. `warm_start` (codes
/// shape) replaces z₀ = 0 when defined. Gradients flow through every
/// iteration (autograd) unless the caller disables grad mode.
FistaResult fista(const SparseOperator& op, const torch::Tensor& x, const Prox& prox,
                  const FistaOptions& options, const torch::Tensor& warm_start = {});

/// Per-sample objective ½‖x − Dz‖² + g(z), shape (B,).
torch::Tensor lasso_objective(const SparseOperator& op, const torch::Tensor& x,
                              const torch::Tensor& z, const Prox& prox);

/// Largest violation of the LASSO optimality (KKT) conditions, relative to
/// ‖Dᵀx‖_∞: with r = Dᵀ(x − Dz) − μz, on z ≠ 0 r = λ sign(z) (z > 0 when
/// non-negative), elsewhere |r| ≤ λ (r ≤ λ when non-negative).
double kkt_violation(const SparseOperator& op, const torch::Tensor& x, const torch::Tensor& z,
                     const Prox& prox);

}  // namespace sparseloop
