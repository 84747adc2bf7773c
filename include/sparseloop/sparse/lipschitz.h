// The Lipschitz constant L = ‖D‖² = λ_max(DᵀD) of the data-term gradient, by
// power iteration on a code-shaped vector (docs/design.md §3.6: FISTA step η = factor/L),
// and the cache through which a layer keeps it current while its dictionary
// trains.
#pragma once

#include <string>

#include <torch/torch.h>

#include "sparseloop/sparse/operator.h"

namespace sparseloop {

struct PowerIterationResult {
  double lipschitz = 0.0;  ///< Rayleigh quotient ‖Dv‖² of the final unit vector
  int64_t iterations = 0;
};

/// Runs power iteration on DᵀD starting from `v` (a code-shaped tensor with
/// batch dim 1, e.g. (1, C, Hz, Wz)); `v` is updated in place to the new unit
/// vector so that the next call is warm-started. Stops after `max_iterations`
/// or when the estimate changes by less than `tolerance` (relative) from the
/// one before it; `previous` > 0 stands for the estimate before the first
/// (a warm refresh's stored L, LipschitzCache), so that one iteration can
/// settle. The estimate approaches L from below. Runs without autograd.
PowerIterationResult power_iteration(const SparseOperator& op, torch::Tensor& v,
                                     int64_t max_iterations, double tolerance = 0.0,
                                     double previous = 0.0);

/// The same estimate by Lanczos (the three-term recurrence, without
/// reorthogonalization: docs/design.md §3.6): the top Ritz value of DᵀD on the
/// Krylov space of `v`, from below, in far fewer products than power
/// iteration where the top eigenvalues cluster (convolutions).
/// Stops after `max_iterations` products or when the estimate changes by less
/// than `tolerance` (relative); `v` becomes the top Ritz vector (unit).
PowerIterationResult lanczos_top_eigenvalue(const SparseOperator& op, torch::Tensor& v,
                                            int64_t max_iterations, double tolerance = 0.0);

/// A deterministic start vector (fixed private seed, independent of the
/// global RNG so that refreshing L never shifts a training run's randomness).
torch::Tensor power_iteration_start(at::IntArrayRef shape, const torch::TensorOptions& options);

/// When a layer re-estimates L.
enum class StepRefresh {
  /// Before every forward (SDNet's authors), warm-started.
  kEveryForward,
  /// When the dictionary differs from the one L was estimated for: every
  /// training step, never in evaluation; the same steps as kEveryForward
  /// while training.
  kOnChange,
  /// Once per input size; never again.
  kFixed,
};

const char* to_string(StepRefresh r);
/// Parses "every-forward" | "on-change" | "fixed"; InputError naming `flag`.
StepRefresh parse_step_refresh(const std::string& s, const std::string& flag = "--step-refresh");
/// For the config visitors (engine/config.h): the same parse.
inline void from_string(const std::string& s, StepRefresh& r, const std::string& flag) {
  r = parse_step_refresh(s, flag);
}

/// How a refresh of L runs.
struct LipschitzPolicy {
  StepRefresh refresh = StepRefresh::kEveryForward;
  /// Warm-started iterations per refresh (at most, with a tolerance).
  int64_t power_iterations = 2;
  /// Iterations of a cold start (from a fixed vector, to 1e-6 relative change).
  int64_t initial_power_iterations = 100;
  /// > 0: a warm refresh stops once L changes by less than this (relative).
  double power_tolerance = 0.0;
  /// > 0: a dictionary that moved by more than this (relative Frobenius norm)
  /// since L was estimated restarts cold: after a large move the old top
  /// eigenvector can sit at the wrong frequency and a warm start then
  /// underestimates L (docs/sdnet.md, the step policy).
  double restart_threshold = 0.0;
};

/// A layer's estimate of L for its dictionary, kept in three module buffers so
/// that checkpoints restore it and a resumed run takes exactly the power
/// iterations an uninterrupted one would:
///   power_vector           the warm-start vector, code-shaped (1, C, …)
///   lipschitz              L (float64 scalar; 0 = none)
///   lipschitz_dictionary   the dictionary L was estimated for
/// Whether L is current is read off the buffers themselves (the dictionary
/// equals the stored one), so nothing outside the layer tracks it.
class LipschitzCache {
 public:
  /// Registers the buffers on `module` (once, in the layer's reset()).
  void register_buffers(torch::nn::Module& module);

  /// L for `dictionary` (the dictionary as used, any autograd detached) and the
  /// operator `op` of signals whose codes have shape `code_shape` (batch 1),
  /// refreshed by `policy`: a cold start (Lanczos from power_iteration_start)
  /// when L was never estimated for this code shape; otherwise a warm refresh
  /// before every forward (kEveryForward) or when the dictionary changed
  /// (kOnChange), none with kFixed. A dictionary that moved past the policy's
  /// restart_threshold restarts: Lanczos from power_iteration_start plus the
  /// stored vector (both unit).
  double refresh(const SparseOperator& op, const torch::Tensor& dictionary,
                 at::IntArrayRef code_shape, const LipschitzPolicy& policy);

  /// L of the last refresh (0: none).
  double value() const;
  /// L of the last refresh, known current by the caller (the dictionary has
  /// not changed since; sparse/dictionary_reuse.h): no comparison, no iteration.
  double reuse();
  /// True when L was estimated for exactly this dictionary.
  bool current(const torch::Tensor& dictionary) const;
  /// Power iterations run by the last refresh (0: L was reused).
  int64_t last_iterations() const { return last_iterations_; }
  /// True when the last refresh started cold.
  bool last_cold() const { return last_cold_; }

 private:
  torch::Tensor vector_, lipschitz_, dictionary_;
  int64_t last_iterations_ = 0;
  bool last_cold_ = false;
};

}  // namespace sparseloop
