// A convolutional sparse coding (CSC) layer: a drop-in for torch::nn::Conv2d
// whose output is the sparse code of its input under a learned convolutional
// dictionary, computed by unrolled FISTA (csc_layer.h; docs/design.md, "The
// CSC layer"):  z* = argmin_z ½‖x − Dz‖² + λ‖z‖₁,  Dᵀx = conv2d(x, W, s, p).
// SDNet (Dai et al., NeurIPS 2022) uses 2 steps, λ = 0.1, non-negative codes,
// unit-norm atoms and step 0.9/L; CSC-CTRL (Dai et al., CPAL 2024) λ = 0.01.
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/csc_layer.h"

namespace sparseloop {

struct CscConv2dOptions {
  CscConv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                   CscOptions csc = {})
      : in_channels_(in_channels),
        out_channels_(out_channels),
        kernel_size_(kernel_size),
        csc_(std::move(csc)) {}

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
  /// The sparse-coding settings.
  TORCH_ARG(CscOptions, csc);
};

class CscConv2dImpl : public CscLayer<CscConv2dImpl> {
 public:
  static constexpr const char* kName = "CscConv2d";

  CscConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : CscConv2dImpl(CscConv2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit CscConv2dImpl(CscConv2dOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// Codes of x: (B, M, H, W) → (B, C, Hz, Wz), Hz = ⌊(H + 2p − k)/s⌋ + 1,
  /// from z₀ = 0 or from the warm start `z0` (shape of the codes).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& z0 = {});
  /// forward() with control of the dictionary's gradient: `detach_dictionary`
  /// holds it constant (gradients still flow to x) — the closed-loop game's
  /// routing of which use of a shared dictionary a player differentiates.
  torch::Tensor code(const torch::Tensor& x, const torch::Tensor& z0, bool detach_dictionary);
  /// Whether code() runs its solve on channels-last tensors for this input
  /// (float32 on the CPU, few signal channels or ≥ 16×16 code positions;
  /// the codes still leave row-major).
  bool solves_channels_last(const torch::Tensor& x) const;

  /// Dz with this layer's dictionary (the same tensor, not a copy): (B, C,
  /// Hz, Wz) → (B, M, H, W). (H, W) defaults to (Hz−1)s − 2p + k.
  /// `detach_dictionary` holds the dictionary constant for autograd.
  torch::Tensor decode(const torch::Tensor& z, int64_t out_h = -1, int64_t out_w = -1,
                       bool detach_dictionary = false);

  /// The {D, Dᵀ} pair of the current dictionary for (out_h, out_w) signals.
  SparseOperator op(int64_t out_h, int64_t out_w) const;
  ConvGeometry geometry() const { return {options.stride(), options.padding()}; }

  CscConv2dOptions options;

  // CscLayer's hooks.
  CscOptions& csc() { return options.csc(); }
  const CscOptions& csc() const { return options.csc(); }
  SparseOperator make_operator(const torch::Tensor& dict, const torch::Tensor& x) const;
  std::vector<int64_t> code_shape(const torch::Tensor& x) const;
  torch::Tensor implicit(const torch::Tensor& z_star, const torch::Tensor& x,
                         const torch::Tensor& dict) const;
  torch::Tensor unrolled(const torch::Tensor& x, const torch::Tensor& dict, const torch::Tensor& z0,
                         const UnrolledOptions& options) const;

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(CscConv2d);

}  // namespace sparseloop
