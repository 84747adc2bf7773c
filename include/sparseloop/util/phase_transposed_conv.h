// The transposed convolution D z of a dictionary with few signal channels
// (the first layer of CSC-CTRL and SDNet: 1 or 3 image channels), written
// as s² phase planes of stride-1 shifted multiply-adds, all vectorized along
// the codes' rows (sparse/conv_dictionary.cpp routes to it).
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// conv_transpose2d(z, weight, stride, padding) cropped or extended to
/// (out_h, out_w): z (B, C, Hz, Wz), weight (C, M, k, k), float or double,
/// on the CPU; returns (B, M, out_h, out_w), row-major. Each output pixel
/// oh = s·i + kh − p falls in the phase plane (oh mod s) at row oh div s, so
/// for one tap (kh, kw) every code row adds, scaled by one weight, into one
/// contiguous row of one plane: no im2col matrix, no per-image GEMM. No
/// autograd: the caller's function (SynthesisFunction) differentiates it.
torch::Tensor transposed_conv_by_phases(const torch::Tensor& z, const torch::Tensor& weight,
                                        int64_t stride, int64_t padding, int64_t out_h,
                                        int64_t out_w);

}  // namespace sparseloop
