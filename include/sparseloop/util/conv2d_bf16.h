// conv2d's input and weight gradients as the library computes them, and
// conv2d on bfloat16 operands (`--precision bf16`, util/precision.h) with a
// faster weight gradient for strided layers.
//
// Why: on a CPU with AMX, oneDNN 2.6 (Debian's LibTorch 1.13) runs the bf16
// forward and backward-data convolutions 5–7× faster than fp32, but its bf16
// weight gradient at strided shapes runs at 120–270 GFLOP/s, no faster than
// fp32 — in the CSC-CTRL game step it took 512 ms where fp32 took 337
// (docs/performance.md, "On the machine kind"). The same weight
// gradient written as im2col (one strided copy of the padded input, NHWC) and
// one bf16 GEMM, which LibTorch hands to oneDNN's AMX matmul, runs at
// 350–680 GFLOP/s there. No library offers this choice per shape, hence the
// hand-written route; everything else stays with oneDNN.
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// torch::conv2d(x, weight, bias, stride, padding), except that on a CPU
/// without AVX-512 a 1×1 kernel at stride s > 1 without padding and with
/// fewer than 8 input channels (a narrow ResNet shortcut), which reads only
/// every s-th row and column, runs as the stride-1 convolution of that
/// subsampled view (autograd scatters its input gradient back). Why: oneDNN
/// 2.6 (Debian's LibTorch 1.13) on AVX2-only CPUs hangs or corrupts the heap
/// in the channels-last weight gradient of such a convolution (4→8 1×1 s2 on
/// 16² and 32² maps, b16: found on an AMD EPYC 7002, where SDNet-18-all at
/// width 4 aborted; python3-torch reproduces it). Every plain convolution of
/// the library goes through here (util/precision.h, sparse/conv_dictionary.cpp).
torch::Tensor conv2d_plain(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& bias, int64_t stride, int64_t padding);

/// Whether the weight gradient of conv2d(input, weight) with this stride goes
/// through im2col + GEMM: CPU, bfloat16, a square kernel, stride ≥ 2 or
/// maps of at most 4×4, and in_channels·k² ≥ 256.
/// Measured on the Xeon with AMX (b64/b128; docs/performance.md, "Per-shape
/// bf16 weight gradients, and the rest of the step"): k4 s2
/// 32→64 16² 0.62 against 1.01 ms, 64→128 8² 0.40 against 1.88 ms, k3 s2
/// 64→128 8² 0.67 against 2.33 ms; it loses at stride 1 (64→64 k3 16²: 1.72
/// against 0.80 ms) and with few input channels (16→32 k3 s2: 2.0 against 0.7),
/// but not on the smallest maps: 128→128 k3 4² b128, stride 1, 0.62 ms for
/// the GEMM against oneDNN's 2.0 (SDNet-18's last stage).
bool conv2d_weight_gradient_uses_gemm(const torch::Tensor& input, const torch::Tensor& weight,
                                      int64_t stride);

/// W (C, M, k, k) transposed (C ↔ M) and flipped in both spatial axes,
/// (M, C, k, k): at stride 1 the adjoint of conv2d(·, W, p) is
/// conv2d(·, W', k − 1 − p), with the input's size exactly.
torch::Tensor stride_one_adjoint_weight(const torch::Tensor& weight);

/// Whether conv2d_input_gradient runs as a forward convolution: CPU, bfloat16,
/// stride 1, a square kernel, padding ≤ k − 1. oneDNN 2.6's bf16 forward
/// convolution beats its backward-data primitive on the same arithmetic
/// (b128, k3, channels-last, the Xeon with AMX: 16→16 32² 0.54 against 0.74
/// ms, 32→32 16² 0.28 / 0.34, 64→64 8² 0.30 / 0.36, 128→128 4² 0.47 / 0.76;
/// docs/performance.md, "SDNet-18-all within 2× ResNet-18"); in fp32
/// the two are within 2–15 %, and fp32 keeps the primitive (bit-stable).
bool conv2d_input_gradient_by_forward(const torch::Tensor& grad_output,
                                      const torch::Tensor& weight, int64_t stride,
                                      int64_t padding);

/// ∂⟨conv2d(input, W), grad_output⟩/∂input, (B, M, H, W): oneDNN's
/// backward-data primitive, or its forward convolution with W transposed and
/// flipped (conv2d_input_gradient_by_forward). Only `input_like`'s sizes,
/// options and layout are read (an at::empty of the input's shape serves).
torch::Tensor conv2d_input_gradient(const torch::Tensor& grad_output,
                                    const torch::Tensor& input_like, const torch::Tensor& weight,
                                    int64_t stride, int64_t padding);

/// ∂⟨conv2d(input, W), grad_output⟩/∂W for W of `weight`'s shape (C, M, k, k):
/// grad_output (B, C, Ho, Wo), input (B, M, H, W), same dtype. im2col + GEMM
/// when conv2d_weight_gradient_uses_gemm, else oneDNN's weight gradient.
torch::Tensor conv2d_weight_gradient(const torch::Tensor& grad_output, const torch::Tensor& input,
                                     const torch::Tensor& weight, int64_t stride,
                                     int64_t padding);

/// conv2d(x, weight, bias, stride, padding) for bf16 x and weight, differentiable;
/// its backward takes conv2d_input_gradient and conv2d_weight_gradient. Plain
/// torch::conv2d when neither of their own routes applies (so its double
/// backward stays available there).
torch::Tensor conv2d_bf16(const torch::Tensor& x, const torch::Tensor& weight,
                          const torch::Tensor& bias, int64_t stride, int64_t padding);

/// conv2d(x, weight, stride, padding), differentiable, whose input gradient
/// D G is computed by this project's few-signal-channel transposed
/// convolutions (float or double on the CPU): the phase planes of
/// util/phase_transposed_conv.h for a row-major x, the kernel of
/// util/channels_last_transposed_conv.h for a channels-last one; its weight
/// gradient by conv2d_weight_gradient. For few signal channels (1 or 3: a
/// first layer's analysis, sparse/conv_dictionary.cpp), where ATen's backward
/// takes its slow im2col path for the input gradient (1→16 k3 32² b128: 7.9 ms
/// with the weight gradient against 0.56 for the weight's alone;
/// docs/performance.md, "SDNet-18-all within 2× ResNet-18") or, channels-last,
/// oneDNN's backward-data at 25 GFLOP/s (3→64 k3 32² b32 on an AVX2 EPYC;
/// "RGB synthesis on channels-last codes").
torch::Tensor conv2d_with_few_channel_input_gradient(const torch::Tensor& x,
                                                    const torch::Tensor& weight, int64_t stride,
                                                    int64_t padding);

}  // namespace sparseloop
