#include "sparseloop/sparse/lasso.h"

#include <algorithm>

namespace sparseloop {

SmoothPart lasso_smooth_part(const SparseOperator& op, const torch::Tensor& x) {
  SmoothPart f;
  f.grad = [op, x](const torch::Tensor& z) { return op.analysis(op.synthesis(z) - x); };
  f.forward_step = [op, x](const torch::Tensor& z, double step) {
    auto residual = x - op.synthesis(z);       // signal shape
    return z + step * op.analysis(residual);  // code shape
  };
  f.forward_step_from_zero = [op, x](double step) { return step * op.analysis(x); };
  // Every sample is its own problem: the same problem on a subset of rows.
  f.restrict = [op, x](const torch::Tensor& indices) {
    return lasso_smooth_part(op, x.index_select(0, indices));
  };
  return f;
}

ProximalGradientResult solve_lasso(const SparseOperator& op, const torch::Tensor& x,
                                   const Prox& prox, const ProximalGradientOptions& options,
                                   const torch::Tensor& z0) {
  TORCH_CHECK(x.dim() >= 2, "solve_lasso: expected a batch (B, ...), got shape ", x.sizes());
  return proximal_gradient(lasso_smooth_part(op, x), prox, options, z0);
}

torch::Tensor lasso_objective(const SparseOperator& op, const torch::Tensor& x,
                              const torch::Tensor& z, const Prox& prox) {
  auto r = x - op.synthesis(z);
  return 0.5 * r.reshape({r.size(0), -1}).pow(2).sum(1) + prox.penalty(z);  // (B,)
}

double kkt_violation(const SparseOperator& op, const torch::Tensor& x, const torch::Tensor& z,
                     const Prox& prox) {
  torch::NoGradGuard no_grad;
  const double lam = prox.options().lambda();
  auto r = op.analysis(x - op.synthesis(z)) - prox.options().mu() * z;  // code shape
  const double scale = std::max(op.analysis(x).abs().max().item<double>(), 1e-30);
  torch::Tensor violation;
  if (prox.options().nonnegative()) {
    // z > 0: r = λ;  z = 0: r ≤ λ;  z < 0 is infeasible.
    auto on = z > 0;
    violation = torch::where(on, (r - lam).abs(), torch::relu(r - lam));
    violation = torch::maximum(violation, torch::relu(-z) * 1e30);
  } else {
    auto on = z != 0;
    violation = torch::where(on, (r - lam * z.sign()).abs(), torch::relu(r.abs() - lam));
  }
  return violation.max().item<double>() / scale;
}

}  // namespace sparseloop
