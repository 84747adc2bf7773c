#include "sparseloop/families/vdl/variance_hinge.h"

namespace sparseloop {

namespace {
void check_codes(const torch::Tensor& z, const char* who) {
  TORCH_CHECK(z.dim() == 2, who, ": expected codes (n, l), got shape ", z.sizes());
  TORCH_CHECK(z.size(0) >= 2, who, ": the unbiased std needs a batch of at least 2, got ",
              z.size(0));
}
}  // namespace

torch::Tensor batch_std(const torch::Tensor& z) {
  check_codes(z, "batch_std");
  // ‖z_j − m_j‖ / √(n−1), written with norm so that autograd gives 0 (not NaN)
  // where the std is 0, exactly as the authors' `sqrt_var`.
  auto centered = z - z.mean(0, /*keepdim=*/true);                 // (n, l)
  return centered.norm(2, 0) / std::sqrt(static_cast<double>(z.size(0) - 1));  // (l,)
}

torch::Tensor variance_hinge(const torch::Tensor& z, double threshold) {
  return torch::relu(threshold - batch_std(z)).pow(2).sum();
}

torch::Tensor variance_hinge_grad(const torch::Tensor& z, double threshold) {
  check_codes(z, "variance_hinge_grad");
  const double n1 = static_cast<double>(z.size(0) - 1);
  auto centered = z - z.mean(0, true);                              // (n, l)
  auto s = centered.norm(2, 0, true) / std::sqrt(n1);               // (1, l)
  // coef_j = −2 (T − s_j)₊ / ((n−1) s_j), 0 where s_j = 0.
  auto coef = torch::relu(threshold - s).mul_(-2.0 / n1);
  coef = torch::where(s > 0, coef / s.clamp_min(1e-30), torch::zeros_like(coef));
  return centered.mul_(coef);                                       // (n, l)
}

}  // namespace sparseloop
