#include "sparseloop/util/blas_product.h"

#include "sparseloop/util/dense_linear.h"

namespace sparseloop {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// out = a · b as gemm(beta = 1) into out zeroed (blas_product.h), no autograd.
torch::Tensor& accumulate_into(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b) {
  out.zero_();
  return out.addmm_(a, b);
}

/// a · b as gemm(beta = 1) into zeros, in a new tensor.
torch::Tensor accumulated_product(const torch::Tensor& a, const torch::Tensor& b) {
  auto out = torch::empty({a.size(0), b.size(1)}, a.options());  // (n, m)
  accumulate_into(out, a, b);
  return out;
}

/// p · q laid out as `like`: for a transposed `like` (a dictionary passed as
/// Wᵀ) the product is computed transposed, (qᵀ pᵀ)ᵀ, so that the gradient
/// comes back as a view of a row-major tensor of W's shape, as autograd's mm
/// backward does; a row-major gradient of Wᵀ would make every later sum of
/// the dictionary's gradients (one per use) a strided, slower one.
torch::Tensor product_like(const torch::Tensor& p, const torch::Tensor& q,
                           const torch::Tensor& like) {
  if (!like.is_contiguous() && like.t().is_contiguous())
    return accumulated_product(q.t(), p.t()).t();  // (n, m) as a view of (m, n)
  return accumulated_product(p, q);  // (n, m)
}

/// The product with gradients of the same kind: ∂/∂a = G bᵀ, ∂/∂b = aᵀ G
/// (autograd's own backward would call mm, beta = 0, again).
struct BlasMmFunction : public torch::autograd::Function<BlasMmFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& a,
                               const torch::Tensor& b) {
    ctx->save_for_backward({a, b});
    return accumulated_product(a, b);  // (n, m)
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& a = saved[0];
    const auto& b = saved[1];
    torch::Tensor ga, gb;
    if (ctx->needs_input_grad(0)) ga = product_like(grads[0], b.t(), a);  // (n, k)
    if (ctx->needs_input_grad(1)) gb = product_like(a.t(), grads[0], b);  // (k, m)
    return {ga, gb};
  }
};

}  // namespace

bool blas_mm_accumulates(const torch::Tensor& a, const torch::Tensor& b) {
  return a.dim() == 2 && b.dim() == 2 && a.device().is_cpu() && b.device().is_cpu() &&
         a.scalar_type() == b.scalar_type() &&
         (a.scalar_type() == torch::kFloat || a.scalar_type() == torch::kDouble) &&
         optimized_blas_loaded();
}

torch::Tensor& blas_mm_out(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b) {
  if (!blas_mm_accumulates(a, b)) return at::mm_out(out, a, b);  // (n, m)
  return accumulate_into(out, a, b);                              // (n, m)
}

torch::Tensor blas_mm(const torch::Tensor& a, const torch::Tensor& b) {
  if (!blas_mm_accumulates(a, b)) return torch::mm(a, b);  // (n, m)
  if (torch::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad()))
    return BlasMmFunction::apply(a, b);  // (n, m)
  return accumulated_product(a, b);  // (n, m)
}

}  // namespace sparseloop
