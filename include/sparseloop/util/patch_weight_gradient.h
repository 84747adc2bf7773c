// The weight gradient of a convolution of a one-channel image (k² ≤ 64: the
// first layer of every CSC-CTRL, SDNet and ResNet on grayscale data),
// computed directly from image patches.
//
// Why: oneDNN 2.6 (Debian's LibTorch 1.13) runs this gradient at 11–17
// GFLOP/s when the input has one channel — 1→32 k4 s2 32² b64, CSC-CTRL's MNIST
// stem: 1.3–1.6 ms against a 0.1 ms floor on a 2-core AVX2 EPYC, 19 calls and
// ~9 % of a game step (docs/performance.md, "Weight gradients from patches").
// ATen's alternative, im2col + GEMM, spends 0.46 ms in the strided copy alone
// and its long-K product runs at ~50 GFLOP/s. Here each code pixel's patch
// (its ≤ 64 taps, gathered once) meets its C gradient values in registers: a
// rank-1 update of the (C, taps) gradient per pixel, blocked over a few pixels.
// No library computes this product without materializing the patches.
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// Whether weight_gradient_by_patches takes conv2d(input, weight)'s weight
/// gradient: CPU float or double, a square kernel of at most 8×8, one input
/// channel (three gained nothing: patch_weight_gradient.cpp).
bool patch_weight_gradient_applies(const torch::Tensor& input, const torch::Tensor& weight);

/// ∂⟨conv2d(input, W, stride, padding), grad_output⟩/∂W for W of `weight`'s
/// shape (C, M, k, k; only its sizes are read): grad_output (B, C, Ho, Wo)
/// and input (B, M, H, W) in any layout (row-major and channels-last read in
/// place), same dtype. The sum over pixels runs image
/// by image and then over fixed blocks of images in order: the result does
/// not depend on the number of threads.
torch::Tensor weight_gradient_by_patches(const torch::Tensor& grad_output,
                                         const torch::Tensor& input, const torch::Tensor& weight,
                                         int64_t stride, int64_t padding);

}  // namespace sparseloop
