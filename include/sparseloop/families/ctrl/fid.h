// Fréchet Inception Distance and Inception Score from network outputs
// (Heusel et al. 2017; Salimans et al. 2016). The network itself (a
// TorchScript Inception) is loaded by the caller; these are the statistics.
#pragma once

#include <torch/torch.h>

namespace sparseloop {

struct GaussianStats {
  torch::Tensor mean;        ///< (d,) float64
  torch::Tensor covariance;  ///< (d, d) float64, unbiased
};

/// Mean and covariance of features (n, d), n ≥ 2.
GaussianStats gaussian_stats(const torch::Tensor& features);

/// d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}); the matrix square root's
/// trace is Σ √λᵢ over the eigenvalues of Σ₁^{1/2} Σ₂ Σ₁^{1/2} (symmetric
/// PSD, so the computation stays real and stable).
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

/// IS = exp(E_x KL(p(y|x) ‖ p(y))) averaged over `splits` splits; logits (n, K).
/// Returns {mean, standard deviation over splits}.
std::pair<double, double> inception_score(const torch::Tensor& logits, int64_t splits = 10);

}  // namespace sparseloop
