// Dense products x·Wᵀ (+ b) that are fast on every LibTorch build.
//
// Debian's LibTorch 1.13 is linked against the reference (netlib) BLAS:
// torch::mm / addmm / nn::Linear run at ≈ 3–4 GFLOP/s on these CPUs, while
// oneDNN (bundled with the same LibTorch) runs the identical product as a
// 1×1 convolution 5–10× faster. When LibTorch reports `BLAS_INFO=generic`,
// float32 CPU products of at least 2¹⁷ multiply-adds go through conv2d
// (below that oneDNN's fixed cost dominates); otherwise (MKL/OpenBLAS builds,
// CUDA, float64) through the ordinary linear. Both are differentiable.
// SPARSELOOP_GEMM=blas|onednn in the environment overrides the choice.
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// True when the BLAS loaded in this process is an optimized one (OpenBLAS,
/// MKL, BLIS), read from the shared objects mapped into the process (Debian
/// picks libblas.so.3 at run time through its alternatives, so LibTorch's
/// build-time BLAS_INFO does not tell). SPARSELOOP_GEMM=blas forces true,
/// =onednn false.
bool optimized_blas_loaded();

/// True when products of `x` (its device and dtype) are routed through oneDNN.
bool dense_linear_uses_onednn(const torch::Tensor& x);

/// x (B, in) · weightᵀ (weight: (out, in)) + bias (out,) → (B, out), like
/// torch::nn::functional::linear.
torch::Tensor dense_linear(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& bias = {});

}  // namespace sparseloop
