#include "sparseloop/sparse/lasso.h"

#include <algorithm>
#include <memory>

#include <ATen/Parallel.h>

#include "sparseloop/util/bf16_bits.h"
#include "sparseloop/util/blas_product.h"
#include "sparseloop/util/pending_gradients.h"

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
SPARSELOOP_SIMD_CLONES void negate_bf16(const Bf16Bits* g, Bf16Bits* gd, int64_t begin,
                                        int64_t end) {
  for (int64_t i = begin; i < end; ++i) gd[i] = static_cast<Bf16Bits>(g[i] ^ 0x8000u);  // −g
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/// x rounded to bf16, the operand of the solve's first product ηDᵀx. Its
/// backward returns ∂L/∂x for the whole solve: the product's gradient and
/// every residual's (PendingGradients), widened and summed in one pass.
/// Autograd's own chain (a ToCopy node widening the product's gradient, the
/// residual's gradient widened on its own, one addition per use of x) made
/// four passes over float32 signal-sized tensors and allocated three, in
/// every CSC layer of a bf16 SDNet step (docs/performance.md, "SDNet-18-all
/// within 2× ResNet-18"). The sum is the same float32 sum, in another order.
struct LowerSignal : public torch::autograd::Function<LowerSignal> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               PendingGradients pending) {
    ctx->set_materialize_grads(false);  // an undefined gradient stays undefined: no zeros pass
    ctx->saved_data["pending"] = hold_pending(std::move(pending));
    return x.to(torch::kBFloat16);  // like x, bf16
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto gx = take_pending_sum(grads[0], held_pending(ctx->saved_data["pending"]));  // like x
    return {gx, torch::Tensor()};
  }
};

/// r = x − d rounded to bf16 in one pass (x float32, d bf16, same strides).
torch::Tensor residual_pass(const torch::Tensor& x, const torch::Tensor& d) {
  auto r = torch::empty_like(x, x.options().dtype(torch::kBFloat16));  // like x
  const float* xp = x.data_ptr<float>();
  const Bf16Bits* dp = bf16_bits(d);
  Bf16Bits* rp = bf16_bits(r);
  at::parallel_for(0, x.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    residual_bf16(xp, dp, rp, b, e);
  });
  return r;
}

/// r = x − D y rounded to bf16, for a float32 signal x and a bf16 product
/// D y, in one pass: what `(x - d).to(kBFloat16)` computes (the difference
/// in float32, then rounded), where the tensor ops made three passes (d
/// widened into a float32 copy, the difference, the rounding) and their
/// backward three more. Backward: ∂L/∂x = ∂L/∂r widened, ∂L/∂d = −∂L/∂r in
/// bf16, the values autograd's chain through those ops gives.
struct Bf16Residual : public torch::autograd::Function<Bf16Residual> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x,
                               const torch::Tensor& d) {
    return residual_pass(x, d);  // like x, bf16
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

/// The same residual when x reached the solve through LowerSignal: ∂L/∂x =
/// ∂L/∂r goes unwidened to LowerSignal's pending list, which sums it with
/// the rest of x's gradient. `x` comes detached (no edge to it); `x_low`,
/// LowerSignal's output, is an input only for its edge: it orders this
/// node's backward before LowerSignal's, and needs_input_grad on it says
/// whether this backward pass computes x's gradient at all.
struct Bf16ResidualOfLowered : public torch::autograd::Function<Bf16ResidualOfLowered> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& d, const torch::Tensor& x_low,
                               PendingGradients pending) {
    ctx->saved_data["pending"] = hold_pending(std::move(pending));
    return residual_pass(x, d);  // like x, bf16
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto g = grads[0].contiguous(grads[0].suggest_memory_format());
    auto gd = torch::empty_like(g);
    const Bf16Bits* gp = bf16_bits(g);
    Bf16Bits* gdp = bf16_bits(gd);
    at::parallel_for(0, g.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      negate_bf16(gp, gdp, b, e);
    });
    if (ctx->needs_input_grad(2)) held_pending(ctx->saved_data["pending"]).grads.push_back(g);
    return {torch::Tensor(), gd, torch::Tensor(), torch::Tensor()};
  }
};

/// A solve's float32 signal under --precision bf16: its bf16 copy for ηDᵀx
/// and its residuals, with one gradient node for all of them (LowerSignal)
/// when x is differentiated through, on the CPU, in a dense layout.
class Bf16Signal {
 public:
  explicit Bf16Signal(torch::Tensor x) : x_(std::move(x)) {}

  /// x in bf16, the first product's operand.
  torch::Tensor lowered() {
    if (!one_pass(x_) || !x_.requires_grad() || !torch::GradMode::is_enabled())
      return x_.to(torch::kBFloat16);  // like x
    if (!low_.defined()) {
      pending_ = make_pending_gradients();
      low_ = LowerSignal::apply(x_, pending_);  // like x, bf16
    }
    return low_;
  }

  /// x − d rounded to bf16, for the bf16 product d = D y.
  torch::Tensor residual(const torch::Tensor& d) const {
    const bool fits = one_pass(x_) && d.scalar_type() == torch::kBFloat16 &&
                      x_.sizes().equals(d.sizes()) && x_.strides().equals(d.strides());
    if (!fits) return (x_ - d).to(torch::kBFloat16);
    if (low_.defined() && torch::GradMode::is_enabled())  // ∂L/∂x through LowerSignal
      return Bf16ResidualOfLowered::apply(x_.detach(), d, low_, pending_);  // like x, bf16
    return Bf16Residual::apply(x_, d);  // like x, bf16
  }

 private:
  static bool one_pass(const torch::Tensor& x) {
    return x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
           x.is_non_overlapping_and_dense();
  }

  torch::Tensor x_;
  torch::Tensor low_;         // LowerSignal's output, once made
  PendingGradients pending_;  // shared with the graph's nodes
};

}  // namespace

SmoothPart lasso_smooth_part(const SparseOperator& op, const torch::Tensor& x) {
  SmoothPart f;
  f.device = x.device();
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
    auto signal = std::make_shared<Bf16Signal>(x);
    f.descent_bf16 = [op, signal](const torch::Tensor& y_bf16) {
      return op.analysis_bf16(signal->residual(op.synthesis_bf16(y_bf16)));  // code shape
    };
    f.descent_from_zero_bf16 = [op, signal] {
      return op.analysis_bf16(signal->lowered());  // code shape
    };
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
  f.device = b.device();
  f.grad = [G, b](const torch::Tensor& z) { return blas_mm(z, G).sub_(b); };  // (B, k)
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
