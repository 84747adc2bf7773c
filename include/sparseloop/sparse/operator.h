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
};

}  // namespace sparseloop
