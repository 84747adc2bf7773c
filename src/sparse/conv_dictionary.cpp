#include "sparseloop/sparse/conv_dictionary.h"

#include "sparseloop/sparse/dictionary_reuse.h"
#include "sparseloop/util/conv2d_bf16.h"
#include "sparseloop/util/dense_linear.h"
#include "sparseloop/util/channels_last_transposed_conv.h"
#include "sparseloop/util/phase_transposed_conv.h"
#include "sparseloop/util/precision.h"

#include <ATen/ATen.h>

#include <memory>

namespace sparseloop {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// Backward-data of conv2d: the adjoint of Dᵀ for an input of `input_sizes`.
torch::Tensor backward_data(const torch::Tensor& z, const torch::Tensor& weight,
                            const ConvGeometry& g, at::IntArrayRef input_sizes) {
  // Only the input's sizes and options are read; empty() allocates without
  // filling. In the codes' layout: oneDNN then writes the signal
  // channels-last for channels-last codes (csc_conv2d.cpp) instead of
  // reordering both.
  auto shape_only = at::empty(input_sizes, z.options().memory_format(z.suggest_memory_format()));
  return conv2d_input_gradient(z, shape_only, weight, g.stride, g.padding);  // (B, M, H, W)
}

/// Weight-gradient of conv2d(input, W) for the output gradient `grad_output`
/// (bf16 strided layers as one GEMM, util/conv2d_bf16.h).
torch::Tensor backward_weight(const torch::Tensor& grad_output, const torch::Tensor& input,
                              const torch::Tensor& weight, const ConvGeometry& g) {
  return conv2d_weight_gradient(grad_output, input, weight, g.stride, g.padding);  // (C, M, k, k)
}

// Primitive selection (measured on Debian's LibTorch 1.13 CPU with OpenBLAS,
// batch 64, k4 — see docs/performance.md):
//  - full window (the kernel covers the padded-free input; codes are 1×1):
//    every operator is one GEMM (mkldnn runs these at 5–19 GFLOP/s, GEMM 3×
//    faster);
//  - few signal channels (M·k·k ≤ 64, row-major: the first layer on
//    grayscale images; RGB layers solve channels-last, csc_conv2d.cpp) on
//    CPUs with AVX-512: D's forward in phase planes
//    (util/phase_transposed_conv.h), ≈ 0.1 ms less per product at 1→32 k4 s2
//    b64 than ATen's conv_transpose2d (one GEMM + col2im per image through
//    the BLAS), which on the AMX Xeon (fp32, 2 threads) took 0.37–0.38 ms
//    against 1.02 for one matmul + fold (the route before, 2.2× faster than
//    backward-data on an AVX-512 EPYC) and 1.22–1.56 for backward-data; 1→64
//    k3 28² b128 1.96 against 7.97 and 8.10 (docs/performance.md, "Against
//    the binary the issue was filed on"). Its backward stays SynthesisFunction's (conv2d + weight gradient),
//    faster than conv_transpose2d's own (12.7 against 15.1 ms forward +
//    backward at 1→64). AVX2-only CPUs keep backward-data (cpu_has_avx512).
// Everything else goes to the convolution primitives.
// Both BLAS routes pay off only with an optimized BLAS: with the netlib
// reference BLAS Debian installs by default (≈ 4 GFLOP/s) the oneDNN
// convolution primitives are 6× faster for the same shapes (docs/performance.md).
bool full_window(const torch::Tensor& weight, const ConvGeometry& g, int64_t h, int64_t w) {
  return g.padding == 0 && h == weight.size(2) && w == weight.size(3) &&
         (!weight.device().is_cpu() || optimized_blas_loaded());
}

// Which route is faster for few signal channels depends on AVX-512
// (cpu_has_avx512, util/precision.h; docs/performance.md, 3→64 layer, K = 10,
// b32, 32², OpenBLAS): on an AVX-512 EPYC GEMM + fold took the forward to
// 16.3 ms against 36.3 ms through backward-data; on an AVX2-only EPYC
// backward-data is the faster one (forward 126–152 ms against 187–208 ms,
// forward+backward 425–448 against 533–609, three alternating runs each), and
// the phase planes gain nothing there either. A property of the machine, not
// of the run, so a run and its resume on one machine take the same route.

/// The part of conv_few_signal_channels that the dictionary alone decides.
bool few_signal_channels_route(const torch::Tensor& weight) {
  return weight.device().is_cpu() && weight.size(1) * weight.size(2) * weight.size(3) <= 64 &&
         optimized_blas_loaded() && cpu_has_avx512();
}

}  // namespace

/// Channels-last codes (csc_conv2d.cpp) and bf16 operands always take the
/// convolution primitive. LibTorch 1.13's CPU conv_transpose2d rejects bf16
/// operands at this shape, so under --precision bf16 these layers stay fp32
/// (conv_analysis, conv_synthesis): memory-bound, they gain nothing from bf16
/// arithmetic and lost to their conversions, 1→32 k4 s2 32² b64 K2
/// forward+backward 7.1–7.2 ms in bf16 against 6.1–6.3 kept fp32
/// (docs/performance.md, "One dictionary per objective").
bool conv_few_signal_channels(const torch::Tensor& weight, const torch::Tensor& like) {
  return like.device().is_cpu() && like.scalar_type() != torch::kBFloat16 && like.is_contiguous() &&
         few_signal_channels_route(weight);
}

namespace {

/// D z as ATen's transposed convolution: the reference (conv_synthesis_reference).
torch::Tensor transposed_convolution(const torch::Tensor& z, const torch::Tensor& weight,
                                     const ConvGeometry& g, int64_t out_h, int64_t out_w) {
  const int64_t k = weight.size(2);
  const int64_t oph = out_h - conv_natural_size(z.size(2), k, g);
  const int64_t opw = out_w - conv_natural_size(z.size(3), k, g);
  return torch::conv_transpose2d(z, weight, {}, g.stride, g.padding, {oph, opw});  // (B, M, H, W)
}

/// D as an autograd function. For y = Dz and an upstream gradient G:
///   ∂L/∂z = Dᵀ G = conv2d(G, W)          (⟨Dz, G⟩ = ⟨z, DᵀG⟩)
///   ∂L/∂W = ∇_W ⟨z, conv2d(G, W)⟩        (weight gradient with input G, output grad z)
struct SynthesisFunction : public torch::autograd::Function<SynthesisFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& z,
                               const torch::Tensor& weight, int64_t stride, int64_t padding,
                               int64_t out_h, int64_t out_w) {
    ConvGeometry g{stride, padding};
    ctx->save_for_backward({z, weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    if (channels_last_transposed_conv_applies(z, weight))  // RGB layers solved channels-last
      return transposed_conv_channels_last(z, weight, stride, padding, out_h,
                                           out_w);  // (B, M, H, W), channels-last
    if (conv_few_signal_channels(weight, z) && z.scalar_type() == weight.scalar_type())
      return transposed_conv_by_phases(z, weight, stride, padding, out_h, out_w);  // (B, M, H, W)
    return backward_data(z, weight, g, {z.size(0), weight.size(1), out_h, out_w});  // (B, M, H, W)
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& z = saved[0];
    const auto& weight = saved[1];
    ConvGeometry g{ctx->saved_data["stride"].toInt(), ctx->saved_data["padding"].toInt()};
    auto grad = grads[0].contiguous(z.suggest_memory_format());
    torch::Tensor grad_z, grad_w;
    if (ctx->needs_input_grad(0)) grad_z = conv_analysis(grad, weight, g);  // (B, C, Hz, Wz)
    if (ctx->needs_input_grad(1)) grad_w = backward_weight(z, grad, weight, g);  // (C, M, k, k)
    return {grad_z, grad_w, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

/// A batch-1 float32 product on the CPU without autograd — the power
/// iteration's and Lanczos's (sparse/lipschitz.cpp) — for a dictionary off
/// the few-signal-channel route. ATen sends such a convolution through its
/// im2col path (its oneDNN heuristic wants a batch above 1 or an input above
/// 20 480 values); at::mkldnn_convolution calls oneDNN directly. Not the
/// few-channel dictionaries (M·k² ≤ 64: the stem) nor maps under 8×8, where
/// im2col was faster: D and Dᵀ of 16→16 on 32² 157 → 109 µs, 64→64 on 8²
/// 126 → 104, 128→128 on 4² 139 → 178 (docs/performance.md, "SDNet: cold
/// estimates by Lanczos, channels-last activations").
bool batch_one_product(const torch::Tensor& t, const torch::Tensor& weight) {
  return t.dim() == 4 && t.size(0) == 1 && t.size(2) * t.size(3) >= 64 &&
         !at::GradMode::is_enabled() && t.device().is_cpu() &&
         t.scalar_type() == torch::kFloat && weight.scalar_type() == torch::kFloat &&
         !few_signal_channels_route(weight) && at::hasMKLDNN();
}

void check_conv_weight(const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 4, "conv dictionary: weight must be (C, M, k, k), got shape ",
              weight.sizes());
  TORCH_CHECK(weight.size(2) == weight.size(3),
              "conv dictionary: only square kernels are supported, got ", weight.sizes());
}

}  // namespace

int64_t conv_code_size(int64_t n, int64_t kernel, const ConvGeometry& g) {
  TORCH_CHECK(g.stride >= 1, "conv dictionary: stride must be >= 1, got ", g.stride);
  TORCH_CHECK(g.padding >= 0, "conv dictionary: padding must be >= 0, got ", g.padding);
  TORCH_CHECK(n + 2 * g.padding >= kernel, "conv dictionary: input size ", n, " with padding ",
              g.padding, " is smaller than the kernel ", kernel);
  return (n + 2 * g.padding - kernel) / g.stride + 1;
}

int64_t conv_natural_size(int64_t code_size, int64_t kernel, const ConvGeometry& g) {
  return (code_size - 1) * g.stride - 2 * g.padding + kernel;
}

torch::Tensor conv_analysis(const torch::Tensor& x, const torch::Tensor& weight,
                            const ConvGeometry& g) {
  check_conv_weight(weight);
  TORCH_CHECK(x.dim() == 4 && x.size(1) == weight.size(1), "conv dictionary: input must be (B, ",
              weight.size(1), ", H, W), got shape ", x.sizes());
  conv_code_size(x.size(2), weight.size(2), g);
  conv_code_size(x.size(3), weight.size(3), g);
  // --precision bf16: bf16 operands, fp32 accumulation, the codes back in fp32
  // (util/precision.h); the inner call sees bf16 tensors and computes plainly.
  if (lowers(x) && !conv_few_signal_channels(weight, x))
    return conv_analysis(lowered(x), lowered_dictionary(weight), g).to(x.scalar_type());
  if (full_window(weight, g, x.size(2), x.size(3))) {
    auto flat = matmul_bf16(x.reshape({x.size(0), -1}), weight.reshape({weight.size(0), -1}).t());
    return flat.view({x.size(0), weight.size(0), 1, 1});   // (B, C, 1, 1)
  }
  if (x.scalar_type() == torch::kBFloat16)  // weight gradient per shape (util/conv2d_bf16.h)
    return conv2d_bf16(x, weight, {}, g.stride, g.padding);  // (B, C, Hz, Wz)
  // The channels-last kernel's condition asks of x what it asks of codes:
  // layout, device and dtype (RGB layers, solved channels-last on every CPU).
  if ((conv_few_signal_channels(weight, x) || channels_last_transposed_conv_applies(x, weight)) &&
      x.scalar_type() == weight.scalar_type() && torch::GradMode::is_enabled() &&
      (x.requires_grad() || weight.requires_grad()))
    // Its input gradient by our own transposed convolution, as D's forward
    // here: ATen's backward of a few-channel conv2d takes its slow im2col path
    // (row-major) or oneDNN's slow backward-data (channels-last).
    return conv2d_with_few_channel_input_gradient(x, weight, g.stride,
                                                  g.padding);  // (B, C, Hz, Wz)
  return conv2d_plain(x, weight, {}, g.stride, g.padding);  // (B, C, Hz, Wz)
}

static void check_synthesis(const torch::Tensor& z, const torch::Tensor& weight,
                            const ConvGeometry& g, int64_t out_h, int64_t out_w) {
  check_conv_weight(weight);
  TORCH_CHECK(z.dim() == 4 && z.size(1) == weight.size(0), "conv dictionary: codes must be (B, ",
              weight.size(0), ", Hz, Wz), got shape ", z.sizes());
  const int64_t k = weight.size(2);
  TORCH_CHECK(conv_code_size(out_h, k, g) == z.size(2) && conv_code_size(out_w, k, g) == z.size(3),
              "conv dictionary: codes of spatial size ", z.size(2), "x", z.size(3),
              " do not come from an input of size ", out_h, "x", out_w, " (kernel ", k,
              ", stride ", g.stride, ", padding ", g.padding, ")");
}

torch::Tensor conv_synthesis(const torch::Tensor& z, const torch::Tensor& weight,
                             const ConvGeometry& g, int64_t out_h, int64_t out_w) {
  check_synthesis(z, weight, g, out_h, out_w);
  // bf16 operands, the signal back in fp32 (util/precision.h)
  if (lowers(z) && !conv_few_signal_channels(weight, z))
    return conv_synthesis(lowered(z), lowered_dictionary(weight), g, out_h, out_w)
        .to(z.scalar_type());
  const int64_t B = z.size(0), C = weight.size(0), M = weight.size(1), k = weight.size(2);
  if (full_window(weight, g, out_h, out_w)) {
    auto flat = matmul_bf16(z.reshape({B, C}), weight.reshape({C, -1}));  // (B, M·k·k)
    return flat.view({B, M, k, k});
  }
  return SynthesisFunction::apply(z, weight, g.stride, g.padding, out_h, out_w);  // (B, M, H, W)
}

torch::Tensor conv_analysis_weight_gradient(const torch::Tensor& a, const torch::Tensor& b,
                                            const torch::Tensor& weight, const ConvGeometry& g) {
  check_conv_weight(weight);
  if (lowers(a))  // bf16 operands, the gradient back in fp32 (util/precision.h)
    return conv_analysis_weight_gradient(lowered(a), lowered(b), lowered_dictionary(weight), g)
        .to(a.scalar_type());
  return backward_weight(a.contiguous(b.suggest_memory_format()), b, weight, g);  // (C, M, k, k)
}

torch::Tensor conv_synthesis_reference(const torch::Tensor& z, const torch::Tensor& weight,
                                       const ConvGeometry& g, int64_t out_h, int64_t out_w) {
  check_synthesis(z, weight, g, out_h, out_w);
  return transposed_convolution(z, weight, g, out_h, out_w);  // (B, M, H, W)
}

SparseOperator conv_operator(const torch::Tensor& weight, const ConvGeometry& g, int64_t out_h,
                             int64_t out_w) {
  SparseOperator op;
  // Batch-1 products (estimates of L) through oneDNN's forward convolution:
  // at stride 1, D z = conv_transpose2d(z, W, p) = conv2d(z, W', k − 1 − p)
  // (stride_one_adjoint_weight, util/conv2d_bf16.h), W' made once per
  // operator, i.e. per refresh of L.
  auto flipped = std::make_shared<torch::Tensor>();  // (M, C, k, k), when first needed
  op.synthesis = [weight, g, out_h, out_w, flipped](const torch::Tensor& z) {
    const int64_t k = weight.size(2);
    if (g.stride == 1 && g.padding <= k - 1 && batch_one_product(z, weight) &&
        !full_window(weight, g, out_h, out_w) && out_h == conv_natural_size(z.size(2), k, g) &&
        out_w == conv_natural_size(z.size(3), k, g)) {
      if (!flipped->defined()) *flipped = stride_one_adjoint_weight(weight);
      const int64_t q = k - 1 - g.padding;
      return at::mkldnn_convolution(z.contiguous(), *flipped, {}, {q, q}, {1, 1}, {1, 1},
                                    1);  // (1, M, H, W)
    }
    return conv_synthesis(z, weight, g, out_h, out_w);
  };
  op.analysis = [weight, g](const torch::Tensor& x) {
    if (batch_one_product(x, weight) && x.size(1) == weight.size(1) &&
        !full_window(weight, g, x.size(2), x.size(3)))
      return at::mkldnn_convolution(x.contiguous(), weight.contiguous(), {},
                                    {g.padding, g.padding}, {g.stride, g.stride}, {1, 1},
                                    1);  // (1, C, Hz, Wz)
    return conv_analysis(x, weight, g);
  };
  // --precision bf16, where both products lower (not the few-signal-channel
  // route, which stays fp32: conv_few_signal_channels): the products with
  // their bf16 results kept, for the fused solver step (operator.h). The
  // weight as conv_analysis lowers it (lowered_dictionary: each product's
  // weight gradient reaches the fp32 weight on its own, summed in fp32).
  if (lowers(weight) && !few_signal_channels_route(weight)) {
    op.synthesis_bf16 = [weight, g, out_h, out_w](const torch::Tensor& z) {
      return conv_synthesis(z, lowered_dictionary(weight), g, out_h, out_w);  // (B, M, H, W) bf16
    };
    op.analysis_bf16 = [weight, g](const torch::Tensor& x) {
      return conv_analysis(lowered(x), lowered_dictionary(weight), g);  // (B, C, Hz, Wz) bf16
    };
  }
  return op;
}

SparseOperator conv_operator_reference(const torch::Tensor& weight, const ConvGeometry& g,
                                       int64_t out_h, int64_t out_w) {
  SparseOperator op;
  op.synthesis = [weight, g, out_h, out_w](const torch::Tensor& z) {
    return conv_synthesis_reference(z, weight, g, out_h, out_w);
  };
  op.analysis = [weight, g](const torch::Tensor& x) { return conv_analysis(x, weight, g); };
  return op;
}

}  // namespace sparseloop
