// Matrix products handed to the BLAS as accumulations into a zeroed output
// (gemm with beta = 1) rather than as plain products (beta = 0).
//
// Why: ATen calls gemm with beta = 0 for a plain product (mm, matmul, linear
// without bias), and OpenBLAS 0.3.21 (Debian 12's, DYNAMIC_ARCH) then clears
// the output with its gemm_beta kernel, which on its Zen and Haswell targets
// stores one element at a time: on a 2-core AVX2 EPYC `perf` puts 29 % of a
// (256×64)·(64×2048) product in sgemm_beta_ZEN, and the same product into a
// buffer that ATen zeroed (a vectorized fill) with beta = 1 takes half the
// time (CSC-CTRL's full-window weight gradient, 1.03 → 0.52 ms; the ΔR Gram
// 129×129×256 1.76×; a 1024³ product 1.12×; docs/performance.md, "OpenBLAS
// clears outputs one float at a time"). The values are the same bit for bit:
// the BLAS adds its products to exact zeros in the order it always does.
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// Whether blas_mm accumulates for these operands: CPU float32 or float64
/// matrices with an optimized BLAS loaded (util/dense_linear.h); elsewhere
/// it is torch::mm.
bool blas_mm_accumulates(const torch::Tensor& a, const torch::Tensor& b);

/// a (n, k) · b (k, m) → (n, m), differentiable in both (its gradients are
/// products of the same kind), equal to torch::mm bit for bit.
torch::Tensor blas_mm(const torch::Tensor& a, const torch::Tensor& b);

/// out (n, m) = a · b computed as blas_mm computes it (a zeroed out, then
/// gemm with beta = 1, where blas_mm_accumulates; else mm_out), without
/// autograd: for a caller that owns the output (bench's peak measurement).
torch::Tensor& blas_mm_out(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b);

}  // namespace sparseloop
