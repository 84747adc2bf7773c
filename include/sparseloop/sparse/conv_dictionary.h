// The convolutional dictionary operator (docs/design.md §3.2).
//
// Dictionary W has Conv2d layout (C codes, M input channels, k, k).
//   analysis   Dᵀx = conv2d(x, W, stride s, padding p), Hz = ⌊(H + 2p − k)/s⌋ + 1
//   synthesis  Dz  = the exact adjoint of Dᵀ for an input of size H × W, i.e.
//              conv_transpose2d(z, W, s, p, output_padding = H − ((Hz−1)s − 2p + k)).
// On Debian's CPU LibTorch, conv_transpose2d runs ≈20× slower than conv2d, so
// D is computed through the convolution backward-data primitive (the same
// adjoint, equal to rounding), with an autograd rule whose backward uses only
// fast primitives: ∂/∂z = conv2d, ∂/∂W = the weight-gradient primitive.
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/operator.h"

namespace sparseloop {

/// Stride and padding of a convolutional dictionary (square, as in Conv2d).
struct ConvGeometry {
  int64_t stride = 1;
  int64_t padding = 0;
};

/// Code size along one spatial axis: ⌊(n + 2p − k)/s⌋ + 1; throws
/// (TORCH_CHECK) naming the sizes when the input cannot be represented.
int64_t conv_code_size(int64_t n, int64_t kernel, const ConvGeometry& g);

/// True when D with `weight` (C, M, k, k) takes ATen's transposed convolution
/// for signals like `like`: few signal channels (M·k² ≤ 64), row-major fp32
/// on a CPU with AVX-512 and an optimized BLAS. Such operators stay fp32
/// under --precision bf16 (memory-bound: bf16 only adds conversions).
bool conv_few_signal_channels(const torch::Tensor& weight, const torch::Tensor& like);

/// Dᵀx: x (B, M, H, W) → (B, C, Hz, Wz).
torch::Tensor conv_analysis(const torch::Tensor& x, const torch::Tensor& weight,
                            const ConvGeometry& g);

/// Dz: z (B, C, Hz, Wz) → (B, M, H, W), the exact adjoint of conv_analysis
/// for inputs of size (H, W). Fast on CPU; differentiable in z and weight.
torch::Tensor conv_synthesis(const torch::Tensor& z, const torch::Tensor& weight,
                             const ConvGeometry& g, int64_t out_h, int64_t out_w);

/// ∂/∂W ⟨a, Dᵀb⟩ = ∂/∂W ⟨a, conv2d(b, W)⟩ for codes-shaped `a` (B, C, Hz, Wz)
/// and signal-shaped `b` (B, M, H, W): (C, M, k, k), one weight-gradient
/// primitive. By ⟨a, Dᵀb⟩ = ⟨Da, b⟩ it is also ∂/∂W ⟨Da, b⟩. No autograd.
torch::Tensor conv_analysis_weight_gradient(const torch::Tensor& a, const torch::Tensor& b,
                                            const torch::Tensor& weight, const ConvGeometry& g);

/// The same D through conv_transpose2d (the reference formulation).
torch::Tensor conv_synthesis_reference(const torch::Tensor& z, const torch::Tensor& weight,
                                       const ConvGeometry& g, int64_t out_h, int64_t out_w);

/// Output size D gives when none is asked for: (Hz − 1)s − 2p + k.
int64_t conv_natural_size(int64_t code_size, int64_t kernel, const ConvGeometry& g);

/// {D, Dᵀ} of `weight` for signals of size (out_h, out_w).
SparseOperator conv_operator(const torch::Tensor& weight, const ConvGeometry& g, int64_t out_h,
                             int64_t out_w);

/// Same operator with the reference (conv_transpose2d) synthesis.
SparseOperator conv_operator_reference(const torch::Tensor& weight, const ConvGeometry& g,
                                       int64_t out_h, int64_t out_w);

}  // namespace sparseloop
