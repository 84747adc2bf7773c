// The proximal-gradient solver of every sparse-coding problem in the library
// (FISTA: Beck & Teboulle 2009, Alg. 2 with constant step; ISTA without
// momentum):  min_z f(z) + g(z),  f smooth, g with a closed-form prox.
//
// The solver knows nothing about dictionaries, convolutions or decoders: a
// problem supplies the gradient of its smooth part (SmoothPart) and the prox
// of g (prox.h), the split of SPORCO's PGM (Wohlberg 2017). The LASSO
// ½‖x − Dz‖² (lasso.h) and VDL's inference energy (families/vdl/model.h)
// are two problems for this one loop.
#pragma once

#include <functional>

#include <torch/torch.h>

#include "sparseloop/sparse/prox.h"

namespace sparseloop {

/// The smooth part f of a problem, batch-first (dim 0 indexes samples).
/// Every callback returns a new tensor (the solver may update it in place).
struct SmoothPart {
  /// ∇f(y), the shape of y.
  std::function<torch::Tensor(const torch::Tensor& y)> grad;
  /// Optional fused forward step y − η∇f(y) (one pass fewer when the problem
  /// can fold η into its own arithmetic); defaults to y − η·grad(y).
  std::function<torch::Tensor(const torch::Tensor& y, double step)> forward_step;
  /// Optional forward step written into `out` (the shape of y, never aliasing
  /// it), for solves without autograd: with it an iteration allocates nothing
  /// (the solver keeps three buffers: the iterate, the extrapolated point and
  /// this step's output).
  std::function<void(const torch::Tensor& y, double step, torch::Tensor& out)> forward_step_into;
  /// Optional descent direction −∇f(y), for problems whose forward step
  /// y − η∇f(y) is an addition after their own arithmetic (the LASSO's
  /// y + ηDᵀ(x − Dy)): the solver then adds it inside its one pass per step
  /// over the codes, instead of a pass of its own (and, under autograd, a
  /// node and a scaling pass backward). With it, `descent_from_zero` (−∇f(0),
  /// the LASSO's Dᵀx) lets the first step skip the operator on zeros.
  std::function<torch::Tensor(const torch::Tensor& y)> descent;
  std::function<torch::Tensor()> descent_from_zero;
  /// Optional, for --precision bf16 (util/precision.h): the same direction
  /// from y rounded to bfloat16, returned in bfloat16 as the operator's last
  /// product gives it, and −∇f(0) likewise. The solver under autograd then
  /// reads the direction and writes the next point's bf16 copy inside its one
  /// pass per step (FusedFistaStep) instead of converting both around every
  /// product (the LASSO's, lasso.cpp); the values are those of the
  /// conversions it replaces. Other solvers use `descent`.
  std::function<torch::Tensor(const torch::Tensor& y_bf16)> descent_bf16;
  std::function<torch::Tensor()> descent_from_zero_bf16;
  /// Optional forward step at y = 0 (the LASSO's ηDᵀx, without applying D to
  /// zeros). Required when no start is given: it also fixes the codes' shape.
  std::function<torch::Tensor(double step)> forward_step_from_zero;
  /// For separable f (a sum of per-sample terms): the same problem on the
  /// samples `indices` (int64, into the batch), so that converged samples can
  /// leave the batch. Absent when samples are coupled (VDL's variance hinge
  /// is a statistic of the whole batch): converged samples are then masked.
  std::function<SmoothPart(const torch::Tensor& indices)> restrict;
  /// The batch is one global batch split over the ranks of a distributed run
  /// (util/distributed.h), and f couples its samples: with a tolerance, the
  /// solve ends when every rank's samples have stopped, on every rank at once.
  bool global_batch = false;
  /// Where the problem's data live, for a solve without a start z₀ (with
  /// one, z₀'s device): on a device the stop test is read every few
  /// iterations (ProximalGradientOptions::stop_check_every).
  torch::Device device = torch::kCPU;

  /// y − η∇f(y), fused when the problem offers it.
  torch::Tensor step_from(const torch::Tensor& y, double step) const;
};

/// Momentum policy: FISTA's t-sequence, or none (ISTA).
enum class Momentum { kNone, kFista };

/// What a sample does once its relative change ‖z_k − z_{k−1}‖/‖z_{k−1}‖
/// falls under the tolerance (0/0, a code that stays 0, counts as converged).
enum class StopRule {
  /// Its code is frozen: no gradient, no momentum; the solve ends when every
  /// sample is frozen.
  kFreeze,
  /// The VDL authors' `utils.ISTA`: flags recomputed every step; a flagged
  /// sample takes a step with zero gradient and zero threshold, so FISTA's
  /// momentum still moves it; ‖z_{k−1}‖ = 0 counts as not converged.
  kAuthors,
};

struct ProximalGradientOptions {
  /// Step η (normally 1/L or a fraction of it); > 0.
  TORCH_ARG(double, step) = 1.0;
  /// Iterations: exactly this many when tolerance is 0 (the unrolled,
  /// differentiable mode), at most this many otherwise.
  TORCH_ARG(int64_t, iterations) = 2;
  /// Per-sample relative-change tolerance (0: run every iteration).
  TORCH_ARG(double, tolerance) = 0.0;
  TORCH_ARG(Momentum, momentum) = Momentum::kFista;
  TORCH_ARG(StopRule, stop_rule) = StopRule::kFreeze;
  /// kFreeze with a tolerance: iterations between two host reads of the stop
  /// test. 0: every iteration on the CPU (converged samples then leave the
  /// batch when the problem can be restricted), every 8 on a device, where
  /// each read is a synchronization. Frozen codes do not move, so any value
  /// gives the same codes, per-sample counts and `iterations`; larger ones
  /// only add no-op iterations after the last sample froze. The authors'
  /// rule reads every iteration.
  TORCH_ARG(int64_t, stop_check_every) = 0;
};

struct ProximalGradientResult {
  torch::Tensor z;         ///< codes
  int64_t iterations = 0;  ///< iterations run (the most over samples)
  /// (B,) int64 on the CPU: iterations each sample ran (kAuthors: the
  /// iterations after which it was not flagged converged).
  torch::Tensor sample_iterations;
};

/// Minimizes f + g from `z0` (undefined: z₀ = 0, which needs
/// forward_step_from_zero). With tolerance 0, gradients flow through every
/// iteration (autograd); without autograd and with tolerance 0, each
/// iteration is the forward step and one fused pass (prox, difference and
/// momentum; hand-written on the CPU) over preallocated buffers. With a tolerance, problems that can be restricted to
/// a subset of samples drop converged ones from the batch (kFreeze), others
/// mask them.
ProximalGradientResult proximal_gradient(const SmoothPart& f, const Prox& g,
                                         const ProximalGradientOptions& options,
                                         const torch::Tensor& z0 = {});

}  // namespace sparseloop
