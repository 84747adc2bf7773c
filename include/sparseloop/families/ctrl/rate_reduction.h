// Coding rates and the rate reduction ΔR of closed-loop transcription
// (Dai et al. 2022, "CTRL"; Dai et al. 2024, CSC-CTRL; docs/design.md §4).
// Features Z ∈ ℝ^{n×d}, rows ℓ2-normalized, ε² = 0.5:
//   R(Z)   = ½ logdet(I_d + d/(nε²) ZᵀZ)                     (CTRL eq. 1)
//   R_c(Z) = Σ_j (n_j / 2n) logdet(I_d + d/(n_jε²) Z_jᵀZ_j)
//   ΔR(Z, Ẑ) = R(Z ∪ Ẑ) − ½(R(Z) + R(Ẑ))
// logdet(I_d + aZᵀZ) = logdet(I_n + aZZᵀ) lets us factor the smaller Gram,
// by Cholesky. All functions are differentiable and work in float32/64.
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// ε² of the coding rate (CTRL, CSC-CTRL).
constexpr double kDefaultEpsilonSq = 0.5;

/// logdet(I + a·ZᵀZ) for Z (n, d), through the smaller of the two Grams.
/// Throws NumericalError naming the shape when the matrix is not positive
/// definite (NaN/Inf features) instead of returning NaN.
torch::Tensor logdet_identity_plus_gram(const torch::Tensor& z, double a);

/// R(Z); rows are ℓ2-normalized first when `normalize`.
torch::Tensor coding_rate(const torch::Tensor& z, double eps_sq = kDefaultEpsilonSq,
                          bool normalize = true);

/// R_c(Z | labels) with labels (n,) in [0, num_classes); empty classes add 0.
torch::Tensor class_coding_rate(const torch::Tensor& z, const torch::Tensor& labels,
                                int64_t num_classes, double eps_sq = kDefaultEpsilonSq,
                                bool normalize = true);

/// ΔR(Z, Ẑ) = R(Z ∪ Ẑ) − ½(R(Z) + R(Ẑ)) ≥ 0; zero when Ẑ = Z.
torch::Tensor rate_reduction(const torch::Tensor& z, const torch::Tensor& z_hat,
                             double eps_sq = kDefaultEpsilonSq, bool normalize = true);

/// Sample-wise rate reduction mean_i ΔR({z_i}, {ẑ_i}): each pair of a sample's
/// features and its reconstruction's, as a two-point set (U-CTRL, Tong et al.,
/// ICLR 2023, eq. 6, there summed; here the mean, so its weight does not grow
/// with the batch). For unit rows with cosine c_i and a = d/(2ε²) it has the
/// closed form ½[log(1 + a(1 + c_i)) + log(1 + a(1 − c_i)) − log(1 + 2a)]:
/// zero when ẑ_i = z_i, growing like −½ log(1 − c_i) as they part, so it pulls
/// each reconstruction onto its own sample, not only the batch onto the batch.
torch::Tensor samplewise_rate_reduction(const torch::Tensor& z, const torch::Tensor& z_hat,
                                        double eps_sq = kDefaultEpsilonSq, bool normalize = true);

/// Every term of the closed-loop objective, for logging.
struct ClosedLoopTerms {
  torch::Tensor objective;   ///< what the encoder maximizes and the decoder minimizes
  torch::Tensor rate_z;      ///< R(Z)
  torch::Tensor rate_z_hat;  ///< R(Ẑ)
  torch::Tensor class_rate_z;      ///< R_c(Z) (undefined when unlabelled)
  torch::Tensor class_rate_z_hat;  ///< R_c(Ẑ) (undefined when unlabelled)
  torch::Tensor delta;       ///< ΔR(Z, Ẑ), or Σ_j ΔR(Z_j, Ẑ_j) with labels
  torch::Tensor sample_delta;  ///< mean_i ΔR(z_i, ẑ_i) (undefined when its weight is 0)
  torch::Tensor pixel_mse;     ///< ablation only: ‖X̂ − X‖² / numel, the decoder's (game.h)
};

/// The closed-loop objective. Without labels (undefined tensor): ΔR(Z, Ẑ).
/// With labels: R(Z) − R_c(Z) + R(Ẑ) − R_c(Ẑ) + Σ_j ΔR(Z_j, Ẑ_j).
/// `sample_weight` μ > 0 adds μ · samplewise_rate_reduction(Z, Ẑ).
ClosedLoopTerms closed_loop_objective(const torch::Tensor& z, const torch::Tensor& z_hat,
                                      const torch::Tensor& labels = {}, int64_t num_classes = 0,
                                      double eps_sq = kDefaultEpsilonSq,
                                      double sample_weight = 0.0);

}  // namespace sparseloop
