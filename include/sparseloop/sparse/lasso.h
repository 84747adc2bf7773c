// The (elastic-net) LASSO of a dictionary, per sample,
//   min_z ½‖x − Dz‖² + λ‖z‖₁ (+ μ/2‖z‖²) (z ≥ 0 optionally),
// as a problem of the proximal-gradient solver: its smooth part ½‖x − Dz‖²
// through the operator pair {D, Dᵀ} (operator.h) and the prox of prox.h.
// Conv and linear dictionaries differ only in their operator.
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/operator.h"
#include "sparseloop/sparse/proximal_gradient.h"

namespace sparseloop {

/// f(z) = ½‖x − Dz‖²: ∇f = Dᵀ(Dz − x); the forward step is fused as
/// z + ηDᵀ(x − Dz), and from z = 0 it is ηDᵀx.
SmoothPart lasso_smooth_part(const SparseOperator& op, const torch::Tensor& x);

/// The same f for a linear dictionary in Gram form, from G = DᵀD (k, k) and
/// b = Dᵀx (B, k): ∇f(z) = zG − b, and the forward step z − η∇f(z) is affine,
/// c₀ + zM with M = I − ηG and c₀ = ηb, one (B×k)·(k×k) product per step
/// instead of two with the (k, d) dictionary: the cheaper form when k < 2d.
/// M and c₀ are built once per step size.
SmoothPart lasso_gram_smooth_part(const torch::Tensor& gram, const torch::Tensor& b);

/// Codes of every sample of x by proximal gradient from `z0` (undefined: 0).
ProximalGradientResult solve_lasso(const SparseOperator& op, const torch::Tensor& x,
                                   const Prox& prox, const ProximalGradientOptions& options,
                                   const torch::Tensor& z0 = {});

/// Per-sample objective ½‖x − Dz‖² + g(z), shape (B,).
torch::Tensor lasso_objective(const SparseOperator& op, const torch::Tensor& x,
                              const torch::Tensor& z, const Prox& prox);

/// Largest violation of the LASSO optimality (KKT) conditions, relative to
/// ‖Dᵀx‖_∞: with r = Dᵀ(x − Dz) − μz, on z ≠ 0 r = λ sign(z) (z > 0 when
/// non-negative), elsewhere |r| ≤ λ (r ≤ λ when non-negative).
double kkt_violation(const SparseOperator& op, const torch::Tensor& x, const torch::Tensor& z,
                     const Prox& prox);

}  // namespace sparseloop
