// How a sparse-coding layer keeps its FISTA step η = factor / L current while
// its dictionary trains, and the glue from a layer's options to the solver.
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/fista.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/sparse/prox.h"

namespace sparseloop {

/// When a layer re-estimates L = ‖D‖² by power iteration.
enum class StepRefresh {
  /// Before every forward (SDNet's policy), warm-started: `power_iterations`
  /// iterations per forward, `initial_power_iterations` on a cold start.
  kEveryForward,
  /// Only when the dictionary changed (its version counter or storage) or the
  /// input size changed; free in evaluation, the same as kEveryForward while
  /// training.
  kOnChange,
  /// Once, on the first forward for an input size; never again.
  kFixed,
};

const char* to_string(StepRefresh r);
/// Parses "every-forward" | "on-change" | "fixed"; throws InputError naming `flag`.
StepRefresh parse_step_refresh(const std::string& s, const std::string& flag = "--step-refresh");

/// State kept by a layer for warm-started power iteration. The tensors are
/// registered as module buffers so that checkpoints restore them exactly.
/// `vector` and `lipschitz` are updated in place (same tensors), so they can
/// be module buffers.
struct LipschitzState {
  torch::Tensor vector;      ///< code-shaped unit vector (1, C, ...); empty: never computed
  torch::Tensor lipschitz;   ///< scalar, 0 when never computed
  int64_t& seen_version;     ///< dictionary version at the last refresh (-1: never)
  const void*& seen_data;    ///< dictionary storage at the last refresh
};

/// Returns the current L, refreshing it according to `policy`.
/// `code_shape` is the shape of one sample's code with batch dim 1.
/// With `tolerance` > 0 a warm refresh iterates until the estimate changes by
/// less than `tolerance` (relative), at most `power_iterations` times.
/// `iterations_run`, when given, receives the iterations of this call (0: none).
double refresh_lipschitz(const SparseOperator& op, const torch::Tensor& dictionary,
                         at::IntArrayRef code_shape, LipschitzState state, StepRefresh policy,
                         int64_t power_iterations, int64_t initial_power_iterations,
                         double tolerance = 0.0, int64_t* iterations_run = nullptr);

/// Prox from any layer Options that has lambda(), mu(), nonnegative().
template <class Options>
Prox make_prox(const Options& o) {
  return Prox(ProxOptions().lambda(o.lambda()).mu(o.mu()).nonnegative(o.nonnegative()));
}

/// FistaOptions from any layer Options with steps(), momentum(), tolerance(), max_steps().
template <class Options>
FistaOptions make_fista_options(const Options& o, double step) {
  return FistaOptions()
      .step(step)
      .steps(o.steps())
      .momentum(o.momentum())
      .tolerance(o.tolerance())
      .max_steps(o.max_steps());
}

/// Rescales each atom (row along dim 0) of `weight` to unit ℓ2 norm;
/// differentiable, so gradients see the normalization.
torch::Tensor normalize_atoms(const torch::Tensor& weight);

}  // namespace sparseloop
