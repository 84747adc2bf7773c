// The unrolled FISTA solve of a LASSO (proximal_gradient.h with tolerance 0:
// exactly K steps from z₀) as one autograd function whose backward is written
// by hand, so that its memory does not grow with K (issue 12).
//
// Forward (Beck & Teboulle 2009, Alg. 2, constant step η; y₀ = z₀, c₀ = c₁ = 0):
//   v_{k+1} = y_k + ηDᵀ(x − D y_k),  z_{k+1} = prox(v_{k+1}),
//   y_{k+1} = z_{k+1} + c_{k+1}(z_{k+1} − z_k).
// The prox's Jacobian is s·diag(m_{k+1}) with s = 1/(1 + ημ) and m_{k+1} the
// active set (z_{k+1} > 0 non-negative, z_{k+1} ≠ 0 signed; everything when
// τ = ηλ = 0 and signed), the mask autograd's relu/softshrink backward uses.
//
// Backward (the adjoint recursion; ḡ denotes ∂ℓ/∂·), from ḡz_K = the upstream
// gradient, for k = K−1 … 0:
//   ḡv = s·m_{k+1} ⊙ ḡz_{k+1}
//   ḡy_k = ḡv − ηDᵀD ḡv
//   ḡx += ηD ḡv
//   ḡW += η[∂_W⟨ḡv, Dᵀr_k⟩ − ∂_W⟨y_k, Dᵀ(D ḡv)⟩],   r_k = x − D y_k
//   ḡz_k += (1 + c_k) ḡy_k,  ḡz_{k−1} −= c_k ḡy_k.
// Reversing step k needs y_k (from the state (z_k, z_{k−1})), r_k and m_{k+1}:
// the step is computed once more from y_k (r_k and z_{k+1} fall out of it),
// and the states are recomputed from at most `checkpoints` stored ones by
// binomial checkpointing (checkpoint_schedule.h), each stored as its values
// on its active set plus that set at one bit per code. Nothing else is kept
// per step: memory is `checkpoints` sparse states and a fixed working set,
// flat in K (autograd keeps ≈ 4 dense tensors per step). Time: the recomputed
// steps and one extra step per reversed step (docs/performance.md). Masks
// for every step (K bits per code) would save that extra Dᵀ per step but
// grow with K; at the bench's layer they alone were a third of the growth
// the 1.5× budget of issue 12 allows.
//
// λ and μ enter as constants (they are options, not tensors); the step η is a
// constant as in the layers (L is computed without autograd).
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/prox.h"
#include "sparseloop/sparse/proximal_gradient.h"

namespace sparseloop {

struct UnrolledOptions {
  /// Step η > 0.
  TORCH_ARG(double, step) = 1.0;
  /// FISTA steps K ≥ 1.
  TORCH_ARG(int64_t, iterations) = 2;
  TORCH_ARG(Momentum, momentum) = Momentum::kFista;
  /// The penalty (λ, μ, sign constraint).
  TORCH_ARG(ProxOptions, prox) = {};
  /// States (z_k, z_{k−1}) held at once by the backward besides z₀ (≥ 0; 0
  /// recomputes every state from z₀: K²/2 steps).
  TORCH_ARG(int64_t, checkpoints) = 4;
};

/// z_K of x (B, M, H, W) under the convolutional dictionary `dictionary`
/// (C, M, k, k) with geometry g, from z₀ (undefined: 0); differentiable in x,
/// the dictionary and z₀ by the hand-written backward above. (B, C, Hz, Wz).
torch::Tensor unrolled_conv_lasso(const torch::Tensor& x, const torch::Tensor& dictionary,
                                  const ConvGeometry& g, const torch::Tensor& z0,
                                  const UnrolledOptions& options);

/// The same for a linear dictionary (C, d): x (B, d) → (B, C).
torch::Tensor unrolled_linear_lasso(const torch::Tensor& x, const torch::Tensor& dictionary,
                                    const torch::Tensor& z0, const UnrolledOptions& options);

/// What the last backward on this thread kept and recomputed: deterministic
/// measures of its memory (tests, bench).
struct UnrolledBackwardStats {
  int64_t steps = 0;              ///< K
  int64_t saved_bytes = 0;        ///< held from forward to backward: the stored states
  int64_t peak_state_bytes = 0;   ///< the most bytes of stored states at once
  int64_t peak_states = 0;        ///< the most stored states at once (z₀ not counted)
  int64_t recomputed_steps = 0;   ///< forward steps the backward ran again
};
UnrolledBackwardStats last_unrolled_backward_stats();

}  // namespace sparseloop
