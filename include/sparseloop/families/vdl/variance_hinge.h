// The variance regularizer of VDL (Evtimova & LeCun 2022; the authors' code
// `utils.sqrt_var` / `utils.hinge`): for a batch of codes Z ∈ ℝ^{n×l},
//   std_j(Z) = ‖Z[:, j] − mean_i Z[i, j]‖₂ / √(n − 1)        (unbiased, no ε)
//   h(Z)     = Σ_j [(T − std_j(Z))₊]²                        (squared hinge)
// It couples every sample of the batch: the gradient of one code depends on
// all the others. The hinge only enters the *inference* energy, never the
// decoder's loss.
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// Unbiased standard deviation of every code component over the batch:
/// (n, l) → (l,). n ≥ 2.
torch::Tensor batch_std(const torch::Tensor& z);

/// Σ_j [(T − std_j(z))₊]² as a 0-dim tensor (differentiable by autograd,
/// with gradient 0 on components whose std is exactly 0, like torch.norm).
torch::Tensor variance_hinge(const torch::Tensor& z, double threshold);

/// Analytic gradient of variance_hinge with respect to z, shape (n, l):
///   ∂h/∂z_ij = −2 (T − s_j)₊ (z_ij − m_j) / ((n − 1) s_j),
/// where m_j, s_j are the batch mean and unbiased std of component j; 0 on
/// components with s_j = 0 (a valid subgradient, and what autograd through
/// torch.norm gives in the authors' code).
torch::Tensor variance_hinge_grad(const torch::Tensor& z, double threshold);

}  // namespace sparseloop
