// Closed-loop transcription autoencoders (docs/design.md §6).
//
// CSC-CTRL (Dai et al., CPAL 2024): the encoder f is a stack of
// convolutional sparse coding layers (CscConv2d, k = 4) with BN and
// LeakyReLU between them; the decoder g applies the *same* dictionaries as
// sparse deconvolutions ("CSC-inv": x = D z with the encoder layer's
// dictionary tensor, not a copy), with its own BN and ReLU, Tanh at the end.
// Features are ℓ2-normalized (the rate reduction's sphere).
//
// CTRL (Dai et al., Entropy 2022): the original baseline with a separate
// mini-DCGAN encoder (Conv2d) and decoder (transposed convolutions).
#pragma once

#include <torch/torch.h>

#include "sparseloop/engine/batch_norm.h"
#include "sparseloop/sparse/csc_conv2d.h"

namespace sparseloop {

/// What every closed-loop model offers the game (families/ctrl/trainer.h).
class ClosedLoopModel : public torch::nn::Module {
 public:
  /// Z = f(X): (B, C, H, W) → (B, d), rows on the unit sphere. With
  /// `hold_shared`, parameters shared with the decoder get no gradient from
  /// this use (gradients still reach the input and encoder-only parameters).
  virtual torch::Tensor encode(const torch::Tensor& x, bool hold_shared = false) = 0;
  /// X̂ = g(Z): (B, d) → (B, C, H, W) in [−1, 1]; `hold_shared` likewise.
  virtual torch::Tensor decode(const torch::Tensor& z, bool hold_shared = false) = 0;
  /// Parameters the encoder player updates (shared ones included).
  virtual std::vector<torch::Tensor> encoder_parameters() = 0;
  /// Parameters the decoder player updates (shared ones included).
  virtual std::vector<torch::Tensor> decoder_parameters() = 0;
  /// Parameters used by both players (the dictionaries of CSC-CTRL).
  virtual std::vector<torch::Tensor> shared_parameters() { return {}; }
  /// Fraction of exactly-zero entries in the sparse codes of every CSC layer
  /// for input x (0 for plain convolutions).
  virtual double code_sparsity(const torch::Tensor& x) { return 0.0; }
  /// Sets λ of every CSC layer (inference-time denoising); no-op otherwise.
  virtual void set_lambda(double lambda) {}
  virtual double lambda() const { return 0.0; }
  /// Data-dependent initialization (Salimans & Kingma 2016, §3): rescales
  /// the decoder's last normalization so that its pre-Tanh output has unit
  /// standard deviation on `x`, instead of saturating the Tanh at the start.
  virtual void calibrate(const torch::Tensor& x) {}
  virtual int64_t feature_dim() const = 0;
  virtual int64_t image_channels() const = 0;
  virtual int64_t image_size() const = 0;
};

/// The CSC layers of CSC-CTRL (Dai et al., CPAL 2024, §4): λ = 0.01, 2
/// unrolled steps, unit-norm atoms, step 1/L; signed codes (non-negative ones
/// stalled in docs/results.md's MNIST runs); L re-estimated once per update
/// with 3 warm power iterations.
CscOptions ctrl_csc_options();

struct CscCtrlOptions {
  /// Image channels (1 for MNIST, 3 for CIFAR/STL/ImageNet).
  TORCH_ARG(int64_t, channels) = 1;
  /// 32 (four CSC layers) or 64 (five).
  TORCH_ARG(int64_t, image_size) = 32;
  /// Width of the first layer; doubles per layer (64 → 512 features at 32×32).
  TORCH_ARG(int64_t, width) = 64;
  /// LeakyReLU slope in the encoder.
  TORCH_ARG(double, negative_slope) = 0.2;
  /// The CSC layers' settings (ctrl_csc_options(): the paper's).
  TORCH_ARG(CscOptions, csc) = ctrl_csc_options();
};

/// Re-estimates every BatchNorm's running statistics of `model` as the exact
/// average over the closed-loop passes X → Z = f(X) → X̂ = g(Z) on `batches`
/// (training-mode forward, cumulative average instead of training's EMA).
/// The game moves the networks every step, so the EMA lags behind the weights
/// (Ioffe, "Batch Renormalization", NeurIPS 2017, §1); evaluation needs statistics of
/// the weights being evaluated. Encoder statistics come from real images only.
void recalibrate_batch_norm(ClosedLoopModel& model, const std::vector<torch::Tensor>& batches);

class CscCtrlImpl : public ClosedLoopModel {
 public:
  explicit CscCtrlImpl(CscCtrlOptions options);

  torch::Tensor encode(const torch::Tensor& x, bool hold_shared = false) override;
  torch::Tensor decode(const torch::Tensor& z, bool hold_shared = false) override;
  std::vector<torch::Tensor> encoder_parameters() override;
  std::vector<torch::Tensor> decoder_parameters() override;
  std::vector<torch::Tensor> shared_parameters() override;
  double code_sparsity(const torch::Tensor& x) override;
  void set_lambda(double lambda) override;
  double lambda() const override { return options.csc().lambda(); }
  void calibrate(const torch::Tensor& x) override;
  int64_t feature_dim() const override;
  int64_t image_channels() const override { return options.channels(); }
  int64_t image_size() const override { return options.image_size(); }

  CscCtrlOptions options;
  std::vector<CscConv2d> layers;               ///< encoder CSC layers, shared with the decoder
  std::vector<SyncBatchNorm2d> enc_bn;  ///< after encoder layer i (empty: none)
  std::vector<SyncBatchNorm2d> dec_bn;  ///< after decoder layer j (empty: none)

 private:
  /// Spatial size of each encoder layer's input, for D's output size.
  std::vector<int64_t> sizes_;
};
TORCH_MODULE(CscCtrl);

struct CtrlOptions {
  TORCH_ARG(int64_t, channels) = 1;
  /// 32 only (the mini-DCGAN of CTRL).
  TORCH_ARG(int64_t, image_size) = 32;
  TORCH_ARG(int64_t, width) = 64;
  /// Feature dimension (CTRL: 128).
  TORCH_ARG(int64_t, latent) = 128;
  TORCH_ARG(double, negative_slope) = 0.2;
};

/// CTRL's mini-DCGAN pair: Conv2d encoder, transposed-convolution decoder,
/// weights N(0, 0.02) as in the authors' code. The transposed convolutions
/// use the fast adjoint of sparse/conv_dictionary.h (the same map as
/// ConvTranspose2d, without Debian LibTorch's slow CPU kernel).
class CtrlImpl : public ClosedLoopModel {
 public:
  explicit CtrlImpl(CtrlOptions options);

  torch::Tensor encode(const torch::Tensor& x, bool hold_shared = false) override;
  torch::Tensor decode(const torch::Tensor& z, bool hold_shared = false) override;
  std::vector<torch::Tensor> encoder_parameters() override;
  std::vector<torch::Tensor> decoder_parameters() override;
  int64_t feature_dim() const override { return options.latent(); }
  int64_t image_channels() const override { return options.channels(); }
  int64_t image_size() const override { return options.image_size(); }

  CtrlOptions options;
  torch::nn::Sequential encoder{nullptr};
  std::vector<torch::Tensor> dec_weights;      ///< (C_in, C_out, 4, 4), ConvTranspose2d layout
  std::vector<SyncBatchNorm2d> dec_bn;
};
TORCH_MODULE(Ctrl);

}  // namespace sparseloop
