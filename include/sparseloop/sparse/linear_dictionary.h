// The linear dictionary operator: W has layout (C codes, d) as in
// torch::nn::Linear(d, C), so  Dᵀx = W x  and  Dz = Wᵀ z  (per sample).
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/operator.h"

namespace sparseloop {

/// Dᵀx: x (B, d) → (B, C).
torch::Tensor linear_analysis(const torch::Tensor& x, const torch::Tensor& weight);
/// Dz: z (B, C) → (B, d).
torch::Tensor linear_synthesis(const torch::Tensor& z, const torch::Tensor& weight);
/// ∂/∂W ⟨a, Dᵀb⟩ = aᵀb for a (B, C) and b (B, d): (C, d). No autograd.
torch::Tensor linear_analysis_weight_gradient(const torch::Tensor& a, const torch::Tensor& b);
/// {D, Dᵀ} of `weight` (C, d).
SparseOperator linear_operator(const torch::Tensor& weight);

}  // namespace sparseloop
