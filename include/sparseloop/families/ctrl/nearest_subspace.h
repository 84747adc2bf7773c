// Nearest-subspace classification of features (CTRL's evaluation, Dai et
// al. 2022 §5; the authors' test_acc.py): fit a k-dimensional principal
// subspace to each class's training features; a test feature belongs to the
// class whose subspace leaves the smallest residual
//   score_j(z) = ‖(I − U_j U_jᵀ)(z − μ_j)‖   (centred, PCA)
// or without centring (μ_j = 0, truncated SVD).
#pragma once

#include <torch/torch.h>

namespace sparseloop {

struct NearestSubspace {
  torch::Tensor bases;  ///< (K, d, k): orthonormal columns per class
  torch::Tensor means;  ///< (K, d): class means (zeros when uncentred)
};

/// Fits per-class subspaces of dimension `components` (clipped to the class
/// size) to features (n, d) with labels (n,) in [0, num_classes).
NearestSubspace fit_nearest_subspace(const torch::Tensor& features, const torch::Tensor& labels,
                                     int64_t num_classes, int64_t components = 10,
                                     bool centred = true);

/// Predicted classes (n,) of features (n, d).
torch::Tensor predict_nearest_subspace(const NearestSubspace& model, const torch::Tensor& features);

/// Accuracy of nearest-subspace classification trained on (train_z, train_y).
double nearest_subspace_accuracy(const torch::Tensor& train_z, const torch::Tensor& train_y,
                                 const torch::Tensor& test_z, const torch::Tensor& test_y,
                                 int64_t num_classes, int64_t components = 10,
                                 bool centred = true);

}  // namespace sparseloop
