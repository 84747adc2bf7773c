#include "sparseloop/sparse/csc_layer.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "sparseloop/util/simd.h"

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
/// The row loops of UnitAtoms on contiguous CPU float/double memory: one
/// pass per atom (its n values stay in L1 between the reduction and the
/// write), where the tensor ops made three passes forward and five backward
/// over the whole dictionary. The reductions accumulate in double, reordered
/// into SIMD lanes (`omp simd`): a single serial double sum was latency-bound
/// and slower than the tensor ops it replaced.
#define SPARSELOOP_UNIT_ROW_KERNELS(T)                                                       \
  SPARSELOOP_SIMD_CLONES double row_dot(const T* a, const T* b, int64_t n) {                 \
    double acc = 0;                                                                          \
    _Pragma("omp simd reduction(+ : acc)") for (int64_t i = 0; i < n; ++i) acc +=            \
        static_cast<double>(a[i]) * b[i];                                                    \
    return acc;                                                                              \
  }                                                                                          \
  SPARSELOOP_SIMD_CLONES void row_scale(const T* a, T divisor, T* out, int64_t n) {          \
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] / divisor;                                 \
  }                                                                                          \
  SPARSELOOP_SIMD_CLONES void row_tangent(const T* g, const T* u, T along, T divisor, T* out, \
                                          int64_t n) {                                       \
    for (int64_t i = 0; i < n; ++i) out[i] = (g[i] - u[i] * along) / divisor;                \
  }
SPARSELOOP_UNIT_ROW_KERNELS(float)
SPARSELOOP_UNIT_ROW_KERNELS(double)
#undef SPARSELOOP_UNIT_ROW_KERNELS

template <typename T>
void unit_rows(const T* w, T* u, T* norms, int64_t C, int64_t n) {
  at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T norm = std::max(static_cast<T>(std::sqrt(row_dot(w + c * n, w + c * n, n))),
                              static_cast<T>(1e-12));
      norms[c] = norm;
      row_scale(w + c * n, norm, u + c * n, n);
    }
  });
}

template <typename T>
void unit_rows_backward(const T* u, const T* norms, const T* g, T* out, int64_t C, int64_t n) {
  at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      // None where the norm was clamped (norms == ε exactly there).
      const T along =
          norms[c] > static_cast<T>(1e-12) ? static_cast<T>(row_dot(u + c * n, g + c * n, n)) : T(0);
      row_tangent(g + c * n, u + c * n, along, norms[c], out + c * n, n);
    }
  });
}

bool unit_rows_apply(const torch::Tensor& t) {
  return t.device().is_cpu() && t.is_contiguous() &&
         (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble);
}

struct UnitAtoms : public torch::autograd::Function<UnitAtoms> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& w) {
    const auto w2 = w.reshape({w.size(0), -1});                      // (C, n)
    torch::Tensor u, norms;
    if (unit_rows_apply(w2)) {
      u = torch::empty_like(w2);                                     // (C, n)
      norms = torch::empty({w2.size(0), 1}, w2.options());           // (C, 1)
      AT_DISPATCH_FLOATING_TYPES(w2.scalar_type(), "unit_rows", [&] {
        unit_rows(w2.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(), norms.data_ptr<scalar_t>(),
                  w2.size(0), w2.size(1));
      });
    } else {
      norms = w2.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);      // (C, 1)
      u = w2 / norms;                                                // (C, n)
    }
    ctx->save_for_backward({u, norms});
    return u.view(w.sizes());                                       // like w
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& u = saved[0];
    const auto& norms = saved[1];
    const auto g = grads[0].reshape(u.sizes());  // (C, n)
    if (unit_rows_apply(g) && g.scalar_type() == u.scalar_type()) {
      auto out = torch::empty_like(u);            // (C, n)
      AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "unit_rows_backward", [&] {
        unit_rows_backward(u.data_ptr<scalar_t>(), norms.data_ptr<scalar_t>(),
                           g.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), u.size(0),
                           u.size(1));
      });
      return {out.view(grads[0].sizes())};       // like w
    }
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
