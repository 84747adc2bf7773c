// Sparse autoencoders of Evtimova & LeCun, "Sparse Coding with Multi-Layer
// Decoders using Variance Regularization" (TMLR 2022): decoders, the
// inference energy and its FISTA minimiser. Conventions are those of the
// authors' code (kevtimova/deep-sparse), which set the published numbers;
// see docs/design.md §8 and docs/vdl.md.
//
// Energy of a batch Y = (y_i) with codes Z = (z_i) ∈ ℝ^{n×l}, P pixels per
// sample (the paper's inference energy with its variance term; the γ term and
// the per-pixel mean are the authors' utils.loss_f):
//   E(Z) = Σ_i (1/P)‖y_i − D(z_i)‖²                  reconstruction (per-sample MSE, no ½)
//        + β Σ_j [(T − std_j(Z))₊]²                  variance hinge (families/vdl/variance_hinge.h)
//        + γ Σ_i (1/l)‖z_i − E(y_i)‖²                pull towards the encoder's codes
//        + λ Σ_i ‖z_i‖₁                              sparsity (through the prox only)
// Decoders: linear D(z) = W z (W ∈ ℝ^{d×l}, no bias), or one hidden layer
// D(z) = W₂ ReLU(W₁ z + b₁) (b₁ starts at 0; no output non-linearity).
#pragma once

#include <torch/torch.h>

#include "sparseloop/families/vdl/lista.h"
#include "sparseloop/sparse/proximal_gradient.h"

namespace sparseloop {

// ---------------------------------------------------------------- decoders

struct VdlDecoderOptions {
  VdlDecoderOptions(int64_t code_dim, int64_t output_dim)
      : code_dim_(code_dim), output_dim_(output_dim) {}
  /// l: code size.
  TORCH_ARG(int64_t, code_dim);
  /// d: flattened output size (C·H·W).
  TORCH_ARG(int64_t, output_dim);
  /// Hidden units of the non-linear decoder; 0 gives the linear decoder.
  TORCH_ARG(int64_t, hidden_dim) = 0;
};

class VdlDecoderImpl : public torch::nn::Cloneable<VdlDecoderImpl> {
 public:
  explicit VdlDecoderImpl(VdlDecoderOptions options);
  void reset() override;

  /// z (B, l) → D(z) (B, d).
  torch::Tensor forward(const torch::Tensor& z);
  bool is_linear() const { return options.hidden_dim() == 0; }

  /// Analytic gradient of Σ_i (1/P)‖y_i − D(z_i)‖² with respect to z
  /// (no autograd): linear (2/P)(zWᵀ − y)W; non-linear
  /// (2/P)[((ŷ − y)W₂) ⊙ 1(W₁z + b₁ > 0)]W₁. Shapes z (B, l), y (B, d) → (B, l).
  torch::Tensor reconstruction_grad(const torch::Tensor& z, const torch::Tensor& y);

  /// Rescales every column of every layer's weight to ℓ2 norm `radius`
  /// (SDL; the authors' `normalize_kernels`, applied to both layers of the
  /// non-linear decoder). Biases are untouched; an all-zero column is left as is.
  void normalize_columns(double radius = 1.0);

  /// The dictionary as a (d, l) matrix: W for the linear decoder, W₂W₁ for
  /// the non-linear one (the paper's atom pictures).
  torch::Tensor dictionary();

  VdlDecoderOptions options;
  torch::nn::Linear linear{nullptr};  ///< linear decoder: l → d, no bias
  torch::nn::Linear layer1{nullptr};  ///< non-linear: l → hidden, bias (starts at 0)
  torch::nn::Linear layer2{nullptr};  ///< non-linear: hidden → d, no bias
};
TORCH_MODULE(VdlDecoder);

// ------------------------------------------------------------------ energy

struct VdlEnergyOptions {
  /// λ, weight of ‖z‖₁ (the authors' sparsity_reg).
  TORCH_ARG(double, lambda) = 0.02;
  /// β, weight of the variance hinge (variance_reg): 10 for VDL, 0 for SDL.
  TORCH_ARG(double, beta) = 10.0;
  /// T, the hinge's target standard deviation (hinge_threshold).
  TORCH_ARG(double, threshold) = 0.5;
  /// γ, weight of the pull towards the encoder's codes (code_reg).
  TORCH_ARG(double, gamma) = 5.0;
};

/// The terms of E(Z) for one batch, each summed over the batch (0-dim
/// tensors, differentiable in z and in the decoder's parameters).
struct VdlEnergy {
  torch::Tensor reconstruction;  ///< Σ_i (1/P)‖y_i − D(z_i)‖²
  torch::Tensor hinge;           ///< Σ_j [(T − std_j)₊]² (unweighted; 0 when the batch has 1 sample)
  torch::Tensor code;            ///< Σ_i (1/l)‖z_i − E(y_i)‖² (unweighted; 0 without encoder codes)
  torch::Tensor l1;              ///< Σ_i ‖z_i‖₁ (unweighted)
  torch::Tensor total;           ///< reconstruction + β hinge + γ code + λ l1
};

/// E(Z) of codes z (B, l) for inputs y (B, d); `z_enc` (B, l) are the
/// encoder's codes (treated as constants) or undefined for no code term.
VdlEnergy vdl_energy(VdlDecoder& decoder, const torch::Tensor& y, const torch::Tensor& z,
                     const torch::Tensor& z_enc, const VdlEnergyOptions& options);

/// Analytic gradient of the smooth part (all terms but λ‖z‖₁) with respect
/// to z, shape (B, l). The inference loop uses the same formulas.
torch::Tensor vdl_smooth_grad(VdlDecoder& decoder, const torch::Tensor& y, const torch::Tensor& z,
                              const torch::Tensor& z_enc, const VdlEnergyOptions& options);

// --------------------------------------------------------------- inference

struct VdlInferenceOptions {
  /// Energy weights λ, β, T, γ.
  TORCH_ARG(VdlEnergyOptions, energy) = VdlEnergyOptions();
  /// Fixed step η (the authors' lrt_Z: 0.5 or 1; no Lipschitz estimate).
  TORCH_ARG(double, step) = 0.5;
  /// Cap on iterations.
  TORCH_ARG(int64_t, max_steps) = 200;
  /// Per-sample relative-change tolerance (0: always run max_steps).
  TORCH_ARG(double, tolerance) = 1e-3;
  /// Non-negative shrinkage max(v − ηλ, 0) instead of the soft threshold.
  TORCH_ARG(bool, nonnegative) = true;
  /// FISTA momentum (false: ISTA).
  TORCH_ARG(bool, momentum) = true;
  /// What a converged sample does (proximal_gradient.h): kFreeze, or the
  /// authors' kAuthors (their momentum keeps moving flagged samples).
  TORCH_ARG(StopRule, stop_rule) = StopRule::kFreeze;
};

struct VdlInferenceResult {
  torch::Tensor z;                ///< (B, l) codes, detached
  int64_t iterations = 0;         ///< iterations of the loop
  torch::Tensor sample_steps;     ///< (B,) int64: steps in which each sample was not converged
  double mean_steps = 0;          ///< mean of sample_steps (the authors' `inf_steps`)
};

/// The smooth part of E (all terms but λ‖z‖₁) as a problem of the
/// proximal-gradient solver, for flattened inputs yf (B, d) and encoder codes
/// `target` (B, l) or undefined: ∇ is vdl_smooth_grad's, and the forward step
/// is fused (the linear decoder's is affine in z: one (B×l)·(l×l) product).
/// Not restrictable to a subset of samples: the hinge couples them.
SmoothPart vdl_smooth_part(VdlDecoder& decoder, const torch::Tensor& yf,
                           const torch::Tensor& target, const VdlEnergyOptions& energy);

/// Minimises E over z by FISTA with a fixed step and per-sample early
/// stopping, starting from `z_init` (default: `z_enc`, or zeros when that is
/// undefined too). y (B, d), z_enc (B, l) or undefined. Runs without autograd;
/// the decoder is read, not changed. The linear decoder uses the Gram form
/// ∇ = (2/P)(zG − yW) with G = WᵀW (l×l) computed once per call, so each
/// step costs one (B×l)·(l×l) product instead of two with W (d×l).
VdlInferenceResult vdl_inference(VdlDecoder& decoder, const torch::Tensor& y,
                                 const torch::Tensor& z_enc, const VdlInferenceOptions& options,
                                 const torch::Tensor& z_init = {});

// ------------------------------------------------------------------- model

struct VdlModelOptions {
  VdlModelOptions(int64_t input_dim, int64_t code_dim)
      : input_dim_(input_dim), code_dim_(code_dim) {}
  TORCH_ARG(int64_t, input_dim);
  TORCH_ARG(int64_t, code_dim);
  /// 0: linear decoder (SDL, VDL); > 0: one hidden layer (SDL-NL, VDL-NL).
  TORCH_ARG(int64_t, hidden_dim) = 0;
  /// LISTA refinement steps.
  TORCH_ARG(int64_t, lista_iterations) = 3;
};

/// Encoder and decoder in one module, so that checkpoints hold both
/// (parameter names "encoder.U.weight", "decoder.linear.weight", …).
class VdlModelImpl : public torch::nn::Cloneable<VdlModelImpl> {
 public:
  explicit VdlModelImpl(VdlModelOptions options);
  void reset() override;
  VdlModelOptions options;
  ListaEncoder encoder{nullptr};
  VdlDecoder decoder{nullptr};
};
TORCH_MODULE(VdlModel);

}  // namespace sparseloop
