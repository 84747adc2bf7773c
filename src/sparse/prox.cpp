#include "sparseloop/sparse/prox.h"

#include "sparseloop/util/error.h"

namespace sparseloop {

torch::Tensor soft_threshold(const torch::Tensor& v, double tau) {
  // softshrink is one fused kernel with the subgradient-0 convention at |v| = τ.
  return torch::softshrink(v, tau);
}

torch::Tensor nonnegative_soft_threshold(const torch::Tensor& v, double tau) {
  return torch::relu(v - tau);
}

Prox::Prox(ProxOptions options) : options_(options) {
  TORCH_CHECK(options_.lambda() >= 0.0, "Prox: lambda must be >= 0, got ", options_.lambda());
  TORCH_CHECK(options_.mu() >= 0.0, "Prox: mu must be >= 0, got ", options_.mu());
}

torch::Tensor Prox::operator()(const torch::Tensor& v, double step) const {
  const double tau = step * options_.lambda();
  torch::Tensor z = options_.nonnegative() ? nonnegative_soft_threshold(v, tau)
                                           : (tau > 0 ? soft_threshold(v, tau) : v);
  if (options_.mu() > 0.0) z = z / (1.0 + step * options_.mu());
  return z;
}

void Prox::apply_(torch::Tensor& v, double step) const {
  const double tau = step * options_.lambda();
  if (options_.nonnegative()) {
    v.sub_(tau).clamp_min_(0.0);  // max(v − ηλ, 0)
  } else if (tau > 0) {
    at::softshrink_out(v, v, tau);  // elementwise: output may alias the input
  }
  if (options_.mu() > 0.0) v.div_(1.0 + step * options_.mu());
}

torch::Tensor Prox::penalty(const torch::Tensor& z) const {
  auto flat = z.reshape({z.size(0), -1});  // (B, n)
  auto g = options_.lambda() * flat.abs().sum(1);
  if (options_.mu() > 0.0) g = g + 0.5 * options_.mu() * flat.pow(2).sum(1);
  return g;  // (B,)
}

}  // namespace sparseloop
