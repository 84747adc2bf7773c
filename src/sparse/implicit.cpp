#include "sparseloop/sparse/implicit.h"

#include "sparseloop/sparse/linear_dictionary.h"

namespace sparseloop {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// Per-sample inner product over all but dim 0, shaped to broadcast: (B, 1, …).
torch::Tensor sample_dot(const torch::Tensor& a, const torch::Tensor& b) {
  auto d = (a * b).reshape({a.size(0), -1}).sum(1);  // (B,)
  std::vector<int64_t> shape(a.dim(), 1);
  shape[0] = a.size(0);
  return d.view(shape);
}

/// D for either kind: conv (kind 0) or linear (kind 1).
struct Geometry {
  int64_t kind, stride, padding, out_h, out_w;
  torch::Tensor synth(const torch::Tensor& z, const torch::Tensor& dict) const {
    return kind == 0 ? conv_synthesis(z, dict, ConvGeometry{stride, padding}, out_h, out_w)
                     : linear_synthesis(z, dict);
  }
  torch::Tensor analysis(const torch::Tensor& x, const torch::Tensor& dict) const {
    return kind == 0 ? conv_analysis(x, dict, ConvGeometry{stride, padding})
                     : linear_analysis(x, dict);
  }
};

struct ImplicitLassoFunction : public torch::autograd::Function<ImplicitLassoFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& z_star,
                               const torch::Tensor& x, const torch::Tensor& dict, int64_t kind,
                               int64_t stride, int64_t padding, int64_t out_h, int64_t out_w,
                               double mu, bool nonnegative, int64_t cg_iterations,
                               double cg_tolerance, int64_t cg_check_every) {
    TORCH_CHECK(cg_check_every >= 0, "implicit LASSO backward: cg_check_every must be >= 0, got ",
                cg_check_every);
    ctx->save_for_backward({z_star, x, dict});
    ctx->saved_data["kind"] = kind;
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["out_h"] = out_h;
    ctx->saved_data["out_w"] = out_w;
    ctx->saved_data["mu"] = mu;
    ctx->saved_data["nonnegative"] = nonnegative;
    ctx->saved_data["cg_iterations"] = cg_iterations;
    ctx->saved_data["cg_tolerance"] = cg_tolerance;
    ctx->saved_data["cg_check_every"] = cg_check_every;
    return z_star.clone();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto z = saved[0].detach(), x = saved[1].detach(), dict = saved[2].detach();
    Geometry geo{ctx->saved_data["kind"].toInt(), ctx->saved_data["stride"].toInt(),
                 ctx->saved_data["padding"].toInt(), ctx->saved_data["out_h"].toInt(),
                 ctx->saved_data["out_w"].toInt()};
    const double mu = ctx->saved_data["mu"].toDouble();
    const bool nonneg = ctx->saved_data["nonnegative"].toBool();
    const int64_t iters = ctx->saved_data["cg_iterations"].toInt();
    const double tol = ctx->saved_data["cg_tolerance"].toDouble();
    // The stop test is read on the host every `every` iterations: on a GPU
    // each read waits for the queue to drain, and the systems are small.
    int64_t every = ctx->saved_data["cg_check_every"].toInt();
    if (every == 0) every = z.is_cpu() ? 1 : 4;
    auto mask = (nonneg ? (z > 0) : (z != 0)).to(z.scalar_type());  // support S
    auto apply = [&](const torch::Tensor& v) {  // (M DᵀD M + μM) v
      return mask * (geo.analysis(geo.synth(mask * v, dict), dict) + mu * v);
    };
    // Batched conjugate gradients: every sample is its own SPD system.
    auto b = mask * grads[0];
    auto u = torch::zeros_like(b);
    auto r = b.clone();
    auto p = r.clone();
    auto rr = sample_dot(r, r);
    const auto bb = sample_dot(b, b);
    for (int64_t k = 0; k < iters; ++k) {
      if (k % every == 0 && (rr <= tol * tol * bb).all().item<bool>()) break;
      auto ap = apply(p);
      auto pap = sample_dot(p, ap);
      auto alpha = torch::where(pap > 0, rr / pap.clamp_min(1e-300), torch::zeros_like(pap));
      u = u + alpha * p;
      r = r - alpha * ap;
      auto rr_new = sample_dot(r, r);
      auto beta = torch::where(rr > 0, rr_new / rr.clamp_min(1e-300), torch::zeros_like(rr));
      p = r + beta * p;
      rr = rr_new;
    }
    torch::Tensor grad_x, grad_dict;
    if (ctx->needs_input_grad(1)) grad_x = geo.synth(u, dict);  // D u
    if (ctx->needs_input_grad(2)) {
      torch::AutoGradMode enable(true);
      auto d = dict.clone().requires_grad_(true);
      auto phi = -(geo.synth(u, d) * (geo.synth(z, d) - x)).sum();
      grad_dict = torch::autograd::grad({phi}, {d})[0];
    }
    variable_list out(13);
    out[1] = grad_x;
    out[2] = grad_dict;
    return out;
  }
};

}  // namespace

torch::Tensor implicit_conv_lasso(const torch::Tensor& z_star, const torch::Tensor& x,
                                  const torch::Tensor& dictionary, const ConvGeometry& g,
                                  const ImplicitOptions& o) {
  return ImplicitLassoFunction::apply(z_star.detach(), x, dictionary, int64_t(0), g.stride,
                                      g.padding, x.size(2), x.size(3), o.mu(), o.nonnegative(),
                                      o.cg_iterations(), o.cg_tolerance(), o.cg_check_every());
}

torch::Tensor implicit_linear_lasso(const torch::Tensor& z_star, const torch::Tensor& x,
                                    const torch::Tensor& dictionary, const ImplicitOptions& o) {
  return ImplicitLassoFunction::apply(z_star.detach(), x, dictionary, int64_t(1), int64_t(1),
                                      int64_t(0), int64_t(0), int64_t(0), o.mu(), o.nonnegative(),
                                      o.cg_iterations(), o.cg_tolerance(), o.cg_check_every());
}

}  // namespace sparseloop
