// A convolutional sparse coding (CSC) layer: a drop-in for torch::nn::Conv2d
// whose output is the sparse code of its input under a learned convolutional
// dictionary, computed by unrolled FISTA (DESIGN.md, "CSC layer"):
//   z* = argmin_z ½‖x − Dz‖² + λ‖z‖₁ (+ μ/2‖z‖²) (z ≥ 0 optionally),
//   Dᵀx = conv2d(x, W, s, p).
// SDNet (Dai et al., NeurIPS 2022) uses 2 steps, λ = 0.1, non-negative codes,
// unit-norm atoms and step 0.9/L; CSC-CTRL (Dai et al., CPAL 2024) λ = 0.01.
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/fista.h"
#include "sparseloop/sparse/step_policy.h"

namespace sparseloop {

struct CscConv2dOptions {
  CscConv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

  /// Signal channels M (Conv2d's in_channels).
  TORCH_ARG(int64_t, in_channels);
  /// Code channels C, the number of atoms (Conv2d's out_channels).
  TORCH_ARG(int64_t, out_channels);
  /// Square kernel size k.
  TORCH_ARG(int64_t, kernel_size);
  /// Stride s of Dᵀ.
  TORCH_ARG(int64_t, stride) = 1;
  /// Zero padding p of Dᵀ.
  TORCH_ARG(int64_t, padding) = 0;
  /// ℓ1 weight λ; may be changed at inference (SDNet's robust inference).
  TORCH_ARG(double, lambda) = 0.1;
  /// Elastic-net weight μ (0: LASSO).
  TORCH_ARG(double, mu) = 0.0;
  /// Unrolled FISTA iterations (tolerance == 0).
  TORCH_ARG(int64_t, steps) = 2;
  /// Non-negative codes (prox max(v − ηλ, 0)).
  TORCH_ARG(bool, nonnegative) = false;
  /// Rescale every atom W[c] to unit ℓ2 norm before every forward.
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
  /// FISTA momentum; false gives ISTA.
  TORCH_ARG(bool, momentum) = true;
  /// > 0: iterate each sample until its relative change drops below this.
  TORCH_ARG(double, tolerance) = 0.0;
  /// Cap on iterations when tolerance > 0.
  TORCH_ARG(int64_t, max_steps) = 1000;
  /// Gradients by implicit differentiation of the converged solution
  /// (sparse/implicit.h) instead of through the unrolled steps: memory no
  /// longer grows with `steps`. Meaningful when the solve converges.
  TORCH_ARG(bool, implicit_backward) = false;
  /// Conjugate-gradient iterations of the implicit backward.
  TORCH_ARG(int64_t, cg_iterations) = 50;
};

class CscConv2dImpl : public torch::nn::Cloneable<CscConv2dImpl> {
 public:
  CscConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : CscConv2dImpl(CscConv2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit CscConv2dImpl(CscConv2dOptions options);

  void reset() override;
  /// Re-draws the dictionary (Conv2d's Kaiming-uniform initialization).
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// Codes of x: (B, M, H, W) → (B, C, Hz, Wz), Hz = ⌊(H + 2p − k)/s⌋ + 1,
  /// from z₀ = 0 or from the warm start `z0` (shape of the codes).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& z0 = {});
  /// forward() with control of the dictionary's gradient: `detach_dictionary`
  /// holds it constant (gradients still flow to x) — the closed-loop game's
  /// routing of which use of a shared dictionary a player differentiates.
  torch::Tensor code(const torch::Tensor& x, const torch::Tensor& z0, bool detach_dictionary);

  /// Dz with this layer's dictionary (the same tensor, not a copy): (B, C,
  /// Hz, Wz) → (B, M, H, W). (H, W) defaults to (Hz−1)s − 2p + k.
  /// `detach_dictionary` holds the dictionary constant for autograd (the
  /// closed-loop game's gradient routing).
  torch::Tensor decode(const torch::Tensor& z, int64_t out_h = -1, int64_t out_w = -1,
                       bool detach_dictionary = false);

  /// The dictionary as used: atoms unit-norm when normalize_atoms.
  torch::Tensor dictionary() const;
  /// The {D, Dᵀ} pair of the current dictionary for (out_h, out_w) signals.
  SparseOperator op(int64_t out_h, int64_t out_w) const;
  /// L = ‖D‖² used by the last forward (0 before any).
  double lipschitz() const;
  /// The step η used by the last forward.
  double step() const { return last_step_; }
  /// Power iterations run by the last forward (0: L was reused).
  int64_t last_power_iterations() const { return last_power_iterations_; }
  /// True when the stored L was estimated for the dictionary as it is now.
  bool lipschitz_current() const;
  /// Declares the stored L current for the dictionary as it is now: after
  /// restoring weights and L together from a checkpoint taken when L was
  /// current (loading bumps the version counter), so that a resumed run does
  /// not refresh where the uninterrupted one did not.
  void mark_lipschitz_current();

  CscConv2dOptions options;
  torch::Tensor weight;  ///< (C, M, k, k), Conv2d layout

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})

 private:
  torch::Tensor power_vector_;
  torch::Tensor lipschitz_;
  int64_t seen_version_ = -1;
  const void* seen_data_ = nullptr;
  double last_step_ = 0.0;
  int64_t last_power_iterations_ = 0;
};
TORCH_MODULE(CscConv2d);

}  // namespace sparseloop
