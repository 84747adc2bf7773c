#include "sparseloop/sparse/lasso.h"

#include <algorithm>
#include <memory>

#include <ATen/Parallel.h>

#include "sparseloop/util/bf16_bits.h"

namespace sparseloop {
namespace {

// As in proximal_gradient.cpp: the NaN select of to_bf16 vectorizes only
// without GCC's default -ftrapping-math.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif
SPARSELOOP_SIMD_CLONES void residual_bf16(const float* x, const Bf16Bits* d, Bf16Bits* r,
                                          int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) r[i] = to_bf16(x[i] - from_bf16(d[i]));
}
SPARSELOOP_SIMD_CLONES void widen_negate_bf16(const Bf16Bits* g, float* gx, Bf16Bits* gd,
                                              int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    gx[i] = from_bf16(g[i]);
    gd[i] = static_cast<Bf16Bits>(g[i] ^ 0x8000u);  // −g, exactly
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/// r = x − D y rounded to bf16, for a float32 signal x and a bf16 product
/// D y, in one pass: what `(x - d).to(kBFloat16)` computes (the difference
/// in float32, then rounded), where the tensor ops made three passes (d
/// widened into a float32 copy, the difference, the rounding) and their
/// backward three more. Backward: ∂L/∂x = ∂L/∂r widened, ∂L/∂d = −∂L/∂r in
/// bf16, the values autograd's chain through those ops gives.
struct Bf16Residual : public torch::autograd::Function<Bf16Residual> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x,
                               const torch::Tensor& d) {
    auto r = torch::empty_like(x, x.options().dtype(torch::kBFloat16));  // like x
    const float* xp = x.data_ptr<float>();
    const Bf16Bits* dp = bf16_bits(d);
    Bf16Bits* rp = bf16_bits(r);
    at::parallel_for(0, x.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      residual_bf16(xp, dp, rp, b, e);
    });
    return r;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grads) {
    const auto g = grads[0].contiguous(grads[0].suggest_memory_format());
    auto gx = torch::empty_like(g, g.options().dtype(torch::kFloat));
    auto gd = torch::empty_like(g);
    const Bf16Bits* gp = bf16_bits(g);
    float* gxp = gx.data_ptr<float>();
    Bf16Bits* gdp = bf16_bits(gd);
    at::parallel_for(0, g.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      widen_negate_bf16(gp, gxp, gdp, b, e);
    });
    return {gx, gd};
  }
};

/// x − d in bf16 (above), or by tensor ops where the one pass does not apply.
torch::Tensor residual_in_bf16(const torch::Tensor& x, const torch::Tensor& d) {
  const bool one_pass = x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
                        d.scalar_type() == torch::kBFloat16 && x.sizes().equals(d.sizes()) &&
                        x.is_non_overlapping_and_dense() && x.strides().equals(d.strides());
  if (!one_pass) return (x - d).to(torch::kBFloat16);
  return Bf16Residual::apply(x, d);  // like x, bf16
}

}  // namespace

SmoothPart lasso_smooth_part(const SparseOperator& op, const torch::Tensor& x) {
  SmoothPart f;
  f.grad = [op, x](const torch::Tensor& z) { return op.analysis(op.synthesis(z) - x); };
  f.forward_step = [op, x](const torch::Tensor& z, double step) {
    auto residual = x - op.synthesis(z);       // signal shape
    return torch::add(z, op.analysis(residual), step);  // z + η·Dᵀr in one pass: code shape
  };
  f.forward_step_from_zero = [op, x](double step) { return step * op.analysis(x); };
  // The same steps with the addition (and ηDᵀx's scaling) left to the
  // solver's fused pass (proximal_gradient.h).
  f.descent = [op, x](const torch::Tensor& z) { return op.analysis(x - op.synthesis(z)); };
  f.descent_from_zero = [op, x] { return op.analysis(x); };
  // --precision bf16: the same with the products' bf16 operands and results
  // left to the solver's pass; the residual is taken in x's precision and
  // rounded once, as the next product's operand (x − Dy cancels: rounding x
  // first would cost bits relative to ‖x‖, not ‖r‖).
  if (op.synthesis_bf16 && op.analysis_bf16) {
    f.descent_bf16 = [op, x](const torch::Tensor& y_bf16) {
      return op.analysis_bf16(residual_in_bf16(x, op.synthesis_bf16(y_bf16)));  // code shape
    };
    f.descent_from_zero_bf16 = [op, x] { return op.analysis_bf16(x); };
  }
  // Every sample is its own problem: the same problem on a subset of rows.
  f.restrict = [op, x](const torch::Tensor& indices) {
    return lasso_smooth_part(op, x.index_select(0, indices));
  };
  return f;
}

SmoothPart lasso_gram_smooth_part(const torch::Tensor& gram, const torch::Tensor& b) {
  TORCH_CHECK(b.dim() == 2 && gram.dim() == 2 && gram.size(0) == b.size(1) &&
                  gram.size(1) == b.size(1),
              "lasso_gram_smooth_part: expected gram (k, k) and b (B, k), got ", gram.sizes(),
              " and ", b.sizes());
  // Exactly symmetric, so that zG = zGᵀ whatever rounding made G.
  auto G = (gram + gram.t()).mul_(0.5);
  struct Affine {
    torch::Tensor M, c0;  // z − η∇f(z) = c₀ + zM
    double eta = -1.0;
  };
  auto affine = std::make_shared<Affine>();
  SmoothPart f;
  f.grad = [G, b](const torch::Tensor& z) { return torch::mm(z, G).sub_(b); };  // (B, k)
  f.forward_step = [G, b, affine](const torch::Tensor& z, double step) {
    if (affine->eta != step) {
      affine->M = torch::eye(G.size(0), G.options()).sub_(G, step);  // I − ηG: (k, k)
      affine->c0 = b.mul(step);                                      // ηb: (B, k)
      affine->eta = step;
    }
    // The cached c₀ holds every row; a restricted problem has its own (below).
    return torch::addmm(affine->c0, z, affine->M);  // (B, k)
  };
  f.forward_step_from_zero = [b](double step) { return b.mul(step); };
  f.restrict = [G, b](const torch::Tensor& indices) {
    return lasso_gram_smooth_part(G, b.index_select(0, indices));
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
