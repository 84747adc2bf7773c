// The transposed convolution D z of a dictionary with few signal channels
// (RGB first layers: M·k² ≤ 64) on channels-last codes, as SDNet's stem and
// any 3-channel CSC layer solve (sparse/csc_conv2d.cpp). oneDNN computes this
// product (backward-data, or a forward convolution with 3 output channels)
// at 19–28 GFLOP/s on an AVX2 EPYC against 137 for the analysis Dᵀ of the
// same layer, and OpenBLAS's GEMM against the M·k² taps at 28–48: with three
// output channels neither vectorizes along anything wide. Here every code
// pixel's M·k² contributions come from a small register-blocked product
// vectorized along the taps, then add into the output pixels they touch
// (docs/performance.md, "RGB synthesis on channels-last codes").
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// The dictionary's part of channels_last_transposed_conv_applies: a 4-D CPU
/// float32 or float64 weight (C, M, k, k) with M ≤ 4 and M·k² ≤ 64.
bool channels_last_transposed_conv_takes(const torch::Tensor& weight);

/// Whether transposed_conv_channels_last takes D z for these codes: a CPU
/// float32 or float64 channels-last (and not also row-major) z, a dictionary
/// (C, M, k, k) of that dtype with M ≤ 4 signal channels and M·k² ≤ 64.
/// Only z's layout, device and dtype are asked, so a signal x (B, M, H, W)
/// answers for the kernel's output too (the input gradient of Dᵀ,
/// util/conv2d_bf16.h).
bool channels_last_transposed_conv_applies(const torch::Tensor& z, const torch::Tensor& weight);

/// conv_transpose2d(z, weight, stride, padding) cropped or extended to
/// (out_h, out_w): z (B, C, Hz, Wz), weight (C, M, k, k) with M·k² ≤ 64, float
/// or double, on the CPU; returns (B, M, out_h, out_w) channels-last. Each
/// output value sums its taps in one fixed order (code rows, then columns),
/// whatever the threads. No autograd: callers' functions differentiate it.
torch::Tensor transposed_conv_channels_last(const torch::Tensor& z, const torch::Tensor& weight,
                                            int64_t stride, int64_t padding, int64_t out_h,
                                            int64_t out_w);

}  // namespace sparseloop
