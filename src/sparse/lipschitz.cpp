#include "sparseloop/sparse/lipschitz.h"

#include <ATen/CPUGeneratorImpl.h>
#include <cmath>

namespace sparseloop {

torch::Tensor power_iteration_start(at::IntArrayRef shape, const torch::TensorOptions& options) {
  auto gen = at::detail::createCPUGenerator(/*seed_val=*/20240101);
  auto v = at::randn(shape, gen, torch::TensorOptions().dtype(torch::kDouble));
  v = v / v.norm();
  return v.to(options);
}

PowerIterationResult power_iteration(const SparseOperator& op, torch::Tensor& v,
                                     int64_t max_iterations, double tolerance) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(v.defined() && v.numel() > 0, "power_iteration: start vector is empty");
  PowerIterationResult r;
  v = v / v.norm().clamp_min(1e-30);
  double previous = 0.0;
  for (int64_t i = 0; i < max_iterations; ++i) {
    auto dv = op.synthesis(v);           // signal shape
    auto w = op.analysis(dv);            // code shape: DᵀD v
    const double estimate = dv.pow(2).sum().item<double>();  // vᵀDᵀDv, ‖v‖ = 1
    const double wn = w.norm().item<double>();
    r.iterations = i + 1;
    r.lipschitz = estimate;
    if (!(wn > 0.0) || !std::isfinite(wn)) break;  // D = 0 or broken: keep v
    v = w / wn;
    if (tolerance > 0.0 && i > 0 && std::abs(estimate - previous) <= tolerance * estimate) break;
    previous = estimate;
  }
  return r;
}

}  // namespace sparseloop
