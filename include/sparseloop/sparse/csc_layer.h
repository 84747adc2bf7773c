// What every sparse-coding layer shares, whatever its dictionary's geometry
// (convolutional: csc_conv2d.h, linear: csc_linear.h), the way LibTorch's
// ConvNd layers share ConvNdOptions and ConvNdImpl:
//   - CscOptions, the solver and step settings, declared once and embedded by
//     each layer's options and by each family's configuration;
//   - CscLayer, the base of the layers: the dictionary parameter `weight`, the
//     cache of L = ‖D‖² (lipschitz.h, owned by the layer: callers never
//     manage it), and the solve of
//         z* = argmin_z ½‖x − Dz‖² + λ‖z‖₁ (+ μ/2‖z‖²) (z ≥ 0 optionally)
//     by unrolled FISTA, differentiated by autograd through the iterations,
//     by the hand-written reverse pass of unrolled_backward.h (memory flat in
//     the steps), or implicitly at the solution (implicit.h).
// docs/design.md, "The CSC layer".
#pragma once

#include <cmath>

#include <torch/torch.h>

#include "sparseloop/sparse/lasso.h"
#include "sparseloop/sparse/dictionary_reuse.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/sparse/proximal_gradient.h"
#include "sparseloop/sparse/unrolled_backward.h"

namespace sparseloop {

struct CscOptions {
  /// ℓ1 weight λ; may be changed at inference (SDNet's robust inference).
  TORCH_ARG(double, lambda) = 0.1;
  /// Elastic-net weight μ (0: LASSO).
  TORCH_ARG(double, mu) = 0.0;
  /// Unrolled FISTA iterations (tolerance == 0).
  TORCH_ARG(int64_t, steps) = 2;
  /// Non-negative codes (prox max(v − ηλ, 0)).
  TORCH_ARG(bool, nonnegative) = false;
  /// Use every atom (each code channel's filter) at unit ℓ2 norm.
  TORCH_ARG(bool, normalize_atoms) = true;
  /// Step η = step_factor / L (SDNet: 0.9).
  TORCH_ARG(double, step_factor) = 1.0;
  /// When L is re-estimated.
  TORCH_ARG(StepRefresh, step_refresh) = StepRefresh::kEveryForward;
  /// Warm-started power iterations per refresh.
  TORCH_ARG(int64_t, power_iterations) = 2;
  /// Power iterations on a cold start (or until 1e-6 relative change).
  TORCH_ARG(int64_t, initial_power_iterations) = 100;
  /// > 0: a warm refresh iterates until L's estimate changes by less than
  /// this (relative), at most power_iterations times (0: exactly that many).
  TORCH_ARG(double, power_tolerance) = 0.0;
  /// > 0: a dictionary that moved by more than this (relative) since L's
  /// estimate re-estimates L from a cold start (lipschitz.h).
  TORCH_ARG(double, restart_threshold) = 0.0;
  /// FISTA momentum; false gives ISTA.
  TORCH_ARG(bool, momentum) = true;
  /// > 0: iterate each sample until its relative change drops below this.
  TORCH_ARG(double, tolerance) = 0.0;
  /// Cap on iterations when tolerance > 0.
  TORCH_ARG(int64_t, max_steps) = 1000;
  /// Gradients by implicit differentiation of the converged solution
  /// (implicit.h) instead of through the unrolled steps: memory no longer
  /// grows with `steps`. Meaningful when the solve converges.
  TORCH_ARG(bool, implicit_backward) = false;
  /// Conjugate-gradient iterations of the implicit backward.
  TORCH_ARG(int64_t, cg_iterations) = 50;
  /// Gradients of the unrolled steps by the hand-written reverse pass of
  /// unrolled_backward.h instead of autograd's graph of every step: per step
  /// one bit per code (the shrinkage's active set), and at most `checkpoints`
  /// states recomputed by binomial checkpointing — memory flat in `steps`,
  /// the same gradients to rounding (tests/sparse/unrolled_backward_test.cpp),
  /// at the price of recomputed steps (docs/performance.md). Needs
  /// tolerance 0; exclusive with implicit_backward.
  TORCH_ARG(bool, checkpointed_backward) = false;
  /// States held at once by checkpointed_backward (≥ 0).
  TORCH_ARG(int64_t, checkpoints) = 4;

 public:
  /// The penalty's prox.
  Prox prox() const;
  /// The solver's options for step η.
  ProximalGradientOptions solver(double step) const;
  /// The checkpointed unrolled solve's options for step η.
  UnrolledOptions unrolled(double step) const;
  /// The refresh policy of L.
  LipschitzPolicy lipschitz_policy() const;
  /// TORCH_CHECK of every field's range, naming `layer`.
  void check(const char* layer) const;
};

/// Rescales each atom (row along dim 0) of `weight` to unit ℓ2 norm;
/// differentiable, so gradients see the normalization (a zero atom, whose
/// norm is clamped to 1e-12, gets the clamp's gradient g / 1e-12).
torch::Tensor normalize_atoms(const torch::Tensor& weight);

/// The base of CscConv2dImpl and CscLinearImpl. `Derived` provides
///   CscOptions& csc();                       its settings
///   SparseOperator make_operator(dict, x);   {D, Dᵀ} of `dict` for signals shaped like x
///   std::vector<int64_t> code_shape(x);      one sample's code shape, batch 1
///   torch::Tensor implicit(z*, x, dict);     the implicit-gradient solution
///   torch::Tensor unrolled(x, dict, z0, o);  the checkpointed unrolled solve
template <class Derived>
class CscLayer : public torch::nn::Cloneable<Derived> {
 public:
  torch::Tensor weight;  ///< the dictionary, in the layout of the layer it replaces

  /// The dictionary as used: atoms at unit norm when normalize_atoms.
  torch::Tensor dictionary() const {
    const auto& o = self().csc();
    if (!o.normalize_atoms()) return weight;
    // Once per DictionaryReuse scope (sparse/dictionary_reuse.h), else per use.
    return memo_.get(weight, [this] { return normalize_atoms(weight); });
  }
  /// L = ‖D‖² used by the last forward (0 before any).
  double lipschitz() const { return cache_.value(); }
  /// True when the stored L was estimated for the dictionary as it is now.
  bool lipschitz_current() const { return cache_.current(dictionary().detach()); }
  /// The step η used by the last forward.
  double step() const { return last_step_; }
  /// Power iterations run by the last forward (0: L was reused).
  int64_t last_power_iterations() const { return cache_.last_iterations(); }
  /// True when the last forward re-estimated L from a cold start.
  bool last_cold_restart() const { return cache_.last_cold(); }

  /// Re-draws the dictionary: Conv2d's and Linear's default, Kaiming uniform
  /// with a = √5 (L follows at the next forward).
  void reset_parameters() {
    torch::NoGradGuard no_grad;
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  }

 protected:
  /// Registers `weight` with `shape` and L's buffers (from Derived::reset()).
  void reset_layer(std::vector<int64_t> shape) {
    self().csc().check(name_of_layer());
    weight = this->register_parameter("weight", torch::empty(shape));
    cache_.register_buffers(*this);
    reset_parameters();
  }

  /// Codes of x (from z₀ = 0 or the warm start `z0`); `detach_dictionary`
  /// holds the dictionary constant for autograd (gradients still reach x).
  torch::Tensor solve(const torch::Tensor& x, const torch::Tensor& z0, bool detach_dictionary) {
    const CscOptions& o = self().csc();
    auto dict = dictionary();
    if (detach_dictionary) dict = dict.detach();
    // L of the dictionary as used, without autograd (a constant, as in SDNet).
    auto detached = self().make_operator(dict.detach(), x);
    const auto code_shape = self().code_shape(x);
    const auto policy = o.lipschitz_policy();
    // In a DictionaryReuse scope the dictionary stands still: verified once,
    // L is current for the scope's later solves (on-change only; every-forward
    // refreshes by definition).
    const bool verified =
        policy.refresh == StepRefresh::kOnChange && memo_.verified(code_shape);
    const double L = verified ? cache_.reuse() : cache_.refresh(detached, dict.detach(),
                                                                code_shape, policy);
    if (!verified && policy.refresh == StepRefresh::kOnChange) memo_.set_verified(code_shape);
    TORCH_CHECK(L > 0.0 && std::isfinite(L), name_of_layer(), ": dictionary norm is ", L,
                " (all-zero or non-finite dictionary)");
    last_step_ = o.step_factor() / L;
    if (o.implicit_backward() && torch::GradMode::is_enabled()) {
      torch::Tensor z_star;
      {
        torch::NoGradGuard no_grad;  // the solve keeps no graph
        z_star = solve_lasso(detached, x.detach(), o.prox(), o.solver(last_step_),
                             z0.defined() ? z0.detach() : z0)
                     .z;
      }
      return self().implicit(z_star, x, dict);
    }
    if (o.checkpointed_backward() && torch::GradMode::is_enabled() &&
        (x.requires_grad() || dict.requires_grad() || (z0.defined() && z0.requires_grad()))) {
      return self().unrolled(x, dict, z0, o.unrolled(last_step_));
    }
    return solve_lasso(self().make_operator(dict, x), x, o.prox(), o.solver(last_step_), z0).z;
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  const Derived& self() const { return static_cast<const Derived&>(*this); }
  static const char* name_of_layer() { return Derived::kName; }

  LipschitzCache cache_;
  mutable DictionaryMemo memo_;
  double last_step_ = 0.0;
};

}  // namespace sparseloop
