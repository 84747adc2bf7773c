#include "sparseloop/sparse/csc_layer.h"

namespace sparseloop {

Prox CscOptions::prox() const {
  return Prox(ProxOptions().lambda(lambda()).mu(mu()).nonnegative(nonnegative()));
}

ProximalGradientOptions CscOptions::solver(double step) const {
  return ProximalGradientOptions()
      .step(step)
      .iterations(tolerance() > 0 ? max_steps() : steps())
      .tolerance(tolerance())
      .momentum(momentum() ? Momentum::kFista : Momentum::kNone);
}

UnrolledOptions CscOptions::unrolled(double step) const {
  return UnrolledOptions()
      .step(step)
      .iterations(steps())
      .momentum(momentum() ? Momentum::kFista : Momentum::kNone)
      .prox(prox().options())
      .checkpoints(checkpoints());
}

LipschitzPolicy CscOptions::lipschitz_policy() const {
  LipschitzPolicy p;
  p.refresh = step_refresh();
  p.power_iterations = power_iterations();
  p.initial_power_iterations = initial_power_iterations();
  p.power_tolerance = power_tolerance();
  p.restart_threshold = restart_threshold();
  return p;
}

void CscOptions::check(const char* layer) const {
  TORCH_CHECK(lambda() >= 0.0, layer, ": lambda must be >= 0, got ", lambda());
  TORCH_CHECK(mu() >= 0.0, layer, ": mu must be >= 0, got ", mu());
  TORCH_CHECK(steps() >= 1, layer, ": steps must be >= 1, got ", steps());
  TORCH_CHECK(step_factor() > 0.0, layer, ": step_factor must be > 0, got ", step_factor());
  TORCH_CHECK(power_iterations() >= 1 && initial_power_iterations() >= 1, layer,
              ": power iterations must be >= 1");
  TORCH_CHECK(power_tolerance() >= 0.0 && restart_threshold() >= 0.0 && tolerance() >= 0.0,
              layer, ": tolerances must be >= 0");
  TORCH_CHECK(max_steps() >= 1 && cg_iterations() >= 1, layer,
              ": max_steps and cg_iterations must be >= 1");
  TORCH_CHECK(checkpoints() >= 0, layer, ": checkpoints must be >= 0, got ", checkpoints());
  TORCH_CHECK(!checkpointed_backward() || (tolerance() == 0.0 && !implicit_backward()), layer,
              ": checkpointed_backward differentiates exactly `steps` steps: it needs "
              "tolerance 0 and excludes implicit_backward");
}

torch::Tensor normalize_atoms(const torch::Tensor& weight) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < weight.dim(); ++d) dims.push_back(d);
  auto norms = weight.pow(2).sum(dims, /*keepdim=*/true).sqrt().clamp_min(1e-12);  // (C, 1, …)
  return weight / norms;
}

}  // namespace sparseloop
