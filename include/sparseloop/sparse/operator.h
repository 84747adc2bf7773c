// The operator pair of a dictionary: what a sparse-coding problem needs of
// its dictionary, whatever its geometry (convolutional: conv_dictionary.h,
// linear: linear_dictionary.h).
#pragma once

#include <functional>

#include <torch/torch.h>

namespace sparseloop {

/// `synthesis` is D (codes → signal), `analysis` its adjoint Dᵀ (signal →
/// codes). Both map batches (dim 0).
struct SparseOperator {
  std::function<torch::Tensor(const torch::Tensor&)> synthesis;
  std::function<torch::Tensor(const torch::Tensor&)> analysis;
  /// Optional, under --precision bf16 (util/precision.h) where both products
  /// run on bf16 operands: D of bf16 codes and Dᵀ of float or bf16 signals,
  /// each returned in bf16 as the product comes out, without the conversion
  /// back to the input's precision that `synthesis` and `analysis` make.
  /// For a solver that reads the bf16 product in its own pass (lasso.cpp,
  /// proximal_gradient.h's descent_bf16). Unset otherwise.
  std::function<torch::Tensor(const torch::Tensor&)> synthesis_bf16;
  std::function<torch::Tensor(const torch::Tensor&)> analysis_bf16;
};

}  // namespace sparseloop
