// Proximal operators of the sparse-coding penalty
//   g(z) = λ‖z‖₁ + μ/2‖z‖²  (+ the indicator of z ≥ 0 when non-negative),
// the only place where the proximal-gradient solver (proximal_gradient.h)
// touches the penalty.
#pragma once

#include <torch/torch.h>

namespace sparseloop {

struct ProxOptions {
  /// ℓ1 weight λ ≥ 0.
  TORCH_ARG(double, lambda) = 0.1;
  /// Elastic-net ridge weight μ ≥ 0 (0: plain LASSO).
  TORCH_ARG(double, mu) = 0.0;
  /// Constrain the codes to z ≥ 0 (non-negative soft threshold).
  TORCH_ARG(bool, nonnegative) = false;
};

/// prox_{ηg}(v) = argmin_z ½‖z − v‖² + η g(z), in closed form:
///   soft threshold  S_{ηλ}(v) / (1 + ημ)
///   non-negative    max(v − ηλ, 0) / (1 + ημ)
class Prox {
 public:
  Prox() = default;
  explicit Prox(ProxOptions options);

  /// Applies prox_{step·g} elementwise; differentiable (autograd) in v.
  torch::Tensor operator()(const torch::Tensor& v, double step) const;

  /// The same, in place on `v` (no autograd: for solves that record no graph).
  void apply_(torch::Tensor& v, double step) const;

  /// Per-sample penalty g(z) for a batch (dim 0 = samples): shape (B,).
  torch::Tensor penalty(const torch::Tensor& z) const;

  const ProxOptions& options() const { return options_; }

 private:
  ProxOptions options_;
};

/// Soft threshold S_τ(v) = sign(v) max(|v| − τ, 0).
torch::Tensor soft_threshold(const torch::Tensor& v, double tau);
/// Non-negative soft threshold max(v − τ, 0).
torch::Tensor nonnegative_soft_threshold(const torch::Tensor& v, double tau);

}  // namespace sparseloop
