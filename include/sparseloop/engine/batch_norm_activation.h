// Training-mode batch normalization and the LeakyReLU (or ReLU) after it, as
// one autograd function with its backward written out: three passes over the
// activation forward (mean, centred squares, output) and two backward, where
// LibTorch 1.13 runs BatchNorm's kernels and the activation's separately
// (docs/performance.md, "One dictionary per objective": b64 32×16² forward
// 0.19 against 1.4 ms).
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// y = leaky_relu((x − μ)/√(σ² + ε) · w + b, slope) per channel, μ and σ² the
/// batch's (biased) statistics over (B, H, W): exactly torch::batch_norm in
/// training mode then leaky_relu (slope 0: relu), to float rounding.
/// Differentiable in x, weight and bias (once: no double backward).
struct BatchNormActivation {
  torch::Tensor output;  ///< like x
  torch::Tensor mean;    ///< (C,) float64, the batch mean
  torch::Tensor var;     ///< (C,) float64, the biased batch variance
};

/// True when batch_norm_leaky_relu takes `x`: (B, C, H, W) float32 or float64
/// on the CPU, row-major or channels-last (the output then channels-last too),
/// with more than one value per channel.
bool batch_norm_leaky_relu_takes(const torch::Tensor& x);

/// `weight` and `bias` (C,) may be undefined (not affine: 1 and 0).
BatchNormActivation batch_norm_leaky_relu(const torch::Tensor& x, const torch::Tensor& weight,
                                          const torch::Tensor& bias, double eps,
                                          double negative_slope);

}  // namespace sparseloop
