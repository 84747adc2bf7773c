#include "sparseloop/sparse/fista.h"

#include <cmath>

namespace sparseloop {
namespace {

/// One proximal-gradient step from y: prox_{ηg}(y + η Dᵀ(x − Dy)).
torch::Tensor prox_grad_step(const SparseOperator& op, const torch::Tensor& x,
                             const torch::Tensor& y, const Prox& prox, double step) {
  auto residual = x - op.synthesis(y);                    // signal shape
  return prox(y + step * op.analysis(residual), step);    // code shape
}

/// Per-sample ℓ2 norm over all but dim 0: (B, ...) → (B,).
torch::Tensor sample_norm(const torch::Tensor& t) {
  return t.reshape({t.size(0), -1}).norm(2, 1);
}

FistaResult unrolled(const SparseOperator& op, const torch::Tensor& x, const Prox& prox,
                     const FistaOptions& o, const torch::Tensor& warm_start) {
  // Beck & Teboulle (2009), FISTA with constant step: y₁ = z₀, t₁ = 1, and
  // for k ≥ 1: z_k = prox(y_k − η∇f(y_k)), t_{k+1} = (1 + √(1 + 4t_k²))/2,
  // y_{k+1} = z_k + ((t_k − 1)/t_{k+1})(z_k − z_{k−1}). `t` holds t_k of the
  // current iterate z_k. Since t₁ = 1, the second step has no momentum, so two
  // FISTA steps are two ISTA steps (as in the SDNet authors' code).
  torch::Tensor z, z_prev;
  double t = 1.0;
  int64_t k = 0;
  if (!warm_start.defined()) {
    // z₀ = 0 makes the first extrapolation y = 0 and Dy = 0: skip D.
    z = prox(o.step() * op.analysis(x), o.step());  // z₁
    z_prev = torch::zeros_like(z);                  // z₀
    k = 1;
  } else {
    // z₁ = prox-gradient step from y₁ = z₀ (no momentum yet); t₁ = 1.
    z_prev = warm_start;
    z = prox_grad_step(op, x, warm_start, prox, o.step());
    k = 1;
  }
  for (; k < o.steps(); ++k) {
    torch::Tensor y = z;
    double t_next = t;
    if (o.momentum()) {
      t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
      y = z + ((t - 1.0) / t_next) * (z - z_prev);
    }
    z_prev = z;
    z = prox_grad_step(op, x, y, prox, o.step());
    t = t_next;
  }
  FistaResult r;
  r.z = z;
  r.iterations = o.steps();
  r.sample_iterations = torch::full({x.size(0)}, o.steps(), torch::kLong);
  return r;
}

FistaResult with_tolerance(const SparseOperator& op, const torch::Tensor& x, const Prox& prox,
                           const FistaOptions& o, const torch::Tensor& warm_start) {
  const int64_t batch = x.size(0);
  const double eta = o.step();
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  torch::Tensor z;            // full batch of codes, updated as samples advance
  torch::Tensor z_prev;       // previous iterate, full batch
  if (warm_start.defined()) {
    z = warm_start;
  } else {
    z = torch::zeros_like(op.analysis(x));  // codes shape (B, ...)
  }
  z_prev = z;
  auto iters = torch::zeros({batch}, torch::kLong);
  torch::Tensor active = torch::arange(batch, long_opts);  // indices still iterating
  torch::Tensor xa = x, za = z, za_prev = z_prev;          // active slices
  // Same schedule as `unrolled` (Beck & Teboulle): the first step (k = 0, from
  // y₁ = z₀) has no momentum and leaves t = t₁ = 1.
  double t = 1.0;
  int64_t k = 0;
  for (; k < o.max_steps() && active.numel() > 0; ++k) {
    torch::Tensor y = za;
    double t_next = t;
    if (o.momentum() && k > 0) {
      t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
      y = za + ((t - 1.0) / t_next) * (za - za_prev);
    }
    auto znew = prox_grad_step(op, xa, y, prox, eta);        // (A, ...)
    t = t_next;
    // Relative change per active sample; 0/0 (a code that stays 0) is converged.
    auto change = sample_norm(znew - za);                     // (A,)
    auto base = sample_norm(za);                              // (A,)
    auto rel = torch::where(base > 0, change / base.clamp_min(1e-300),
                            torch::where(change > 0, torch::full_like(change, INFINITY),
                                         torch::zeros_like(change)));
    za_prev = za;
    za = znew;
    z = z.index_copy(0, active, za);
    z_prev = z_prev.index_copy(0, active, za_prev);
    auto done = (rel < o.tolerance()).to(torch::kCPU);        // (A,) bool
    iters.index_fill_(0, active.to(torch::kCPU), k + 1);
    if (done.any().item<bool>()) {
      auto keep = (~done).nonzero().squeeze(1).to(x.device()); // positions within active
      active = active.index_select(0, keep);
      xa = xa.index_select(0, keep);
      za = za.index_select(0, keep);
      za_prev = za_prev.index_select(0, keep);
    }
  }
  FistaResult r;
  r.z = z;
  r.iterations = k;
  r.sample_iterations = iters;
  return r;
}

}  // namespace

FistaResult fista(const SparseOperator& op, const torch::Tensor& x, const Prox& prox,
                  const FistaOptions& options, const torch::Tensor& warm_start) {
  TORCH_CHECK(options.step() > 0.0 && std::isfinite(options.step()),
              "fista: step must be positive and finite, got ", options.step());
  TORCH_CHECK(x.dim() >= 2, "fista: expected a batch (B, ...), got shape ", x.sizes());
  if (options.tolerance() > 0.0) {
    TORCH_CHECK(options.max_steps() >= 1, "fista: max_steps must be >= 1");
    return with_tolerance(op, x, prox, options, warm_start);
  }
  TORCH_CHECK(options.steps() >= 1, "fista: steps must be >= 1, got ", options.steps());
  return unrolled(op, x, prox, options, warm_start);
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
