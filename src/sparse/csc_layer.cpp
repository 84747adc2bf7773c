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

namespace {

/// u = w / max(‖w‖, ε) per atom, with its backward written out:
///   ∂L/∂w = (g − u·⟨u, g⟩) / ‖w‖   (the tangent part of g; ⟨u, g⟩ per atom),
///   ∂L/∂w = g / ε                  where the norm was clamped (no ⟨u, g⟩ term).
/// Autograd's chain through pow, sum, sqrt, clamp and a broadcast division
/// ran 5 reduction/broadcast kernels and took 1.1 ms for CSC-CTRL's widest
/// dictionary (256×128×4×4) against 0.46 ms for these three passes, and the
/// game step differentiates each dictionary's normalization ≈ 5 times
/// (docs/performance.md, "Per-shape bf16 weight gradients, and the rest of the step").
struct UnitAtoms : public torch::autograd::Function<UnitAtoms> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& w) {
    const auto w2 = w.reshape({w.size(0), -1});                      // (C, n)
    const auto raw = w2.norm(2, 1, /*keepdim=*/true);               // (C, 1)
    const auto norms = raw.clamp_min(1e-12);                        // (C, 1)
    const auto u = w2 / norms;                                      // (C, n)
    ctx->save_for_backward({u, norms});
    return u.view(w.sizes());                                       // like w
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& u = saved[0];
    const auto& norms = saved[1];
    const auto g = grads[0].reshape(u.sizes());  // (C, n)
    // ⟨u, g⟩ per atom, none where the norm was clamped (norms == ε exactly there).
    const auto along = (u * g).sum(1, /*keepdim=*/true) * (norms > 1e-12);  // (C, 1)
    return {((g - u * along) / norms).view(grads[0].sizes())};       // like w
  }
};

}  // namespace

torch::Tensor normalize_atoms(const torch::Tensor& weight) {
  return UnitAtoms::apply(weight);  // like weight
}

}  // namespace sparseloop
