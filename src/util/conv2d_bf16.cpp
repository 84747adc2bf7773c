#include "sparseloop/util/conv2d_bf16.h"

#include "sparseloop/util/channels_last_transposed_conv.h"
#include "sparseloop/util/patch_weight_gradient.h"
#include "sparseloop/util/phase_transposed_conv.h"
#include "sparseloop/util/precision.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sparseloop {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::vector<int64_t> pair(int64_t v) { return {v, v}; }

/// One image's (M, P) planes as (P, M) rows, in 16×16 tiles so that both
/// sides stay in cache. E: the element's bytes as an unsigned integer.
template <typename E>
void transpose_image(const E* src, E* dst, int64_t M, int64_t P) {
  constexpr int64_t kTile = 16;
  for (int64_t m0 = 0; m0 < M; m0 += kTile)
    for (int64_t p0 = 0; p0 < P; p0 += kTile)
      for (int64_t m = m0; m < std::min(M, m0 + kTile); ++m)
        for (int64_t p = p0; p < std::min(P, p0 + kTile); ++p) dst[p * M + m] = src[m * P + p];
}

/// Runs `f(b, image)` for every image b on every thread, `image` pointing at
/// its (H, W, M) values: a channels-last input's own memory, else the image
/// transposed into a per-thread buffer (one pass over a cache-sized block
/// where `permute(...).contiguous()` was a generic strided copy of the whole
/// batch, 7 % of a bf16 CSC-CTRL step).
template <typename E, typename F>
void for_each_nhwc_image(const torch::Tensor& t, F f) {
  const int64_t B = t.size(0), M = t.size(1), P = t.size(2) * t.size(3);
  const bool nhwc = t.is_contiguous(at::MemoryFormat::ChannelsLast);
  const auto src = nhwc ? t : t.contiguous();  // (B, M, H, W), NHWC or NCHW memory
  const E* base = static_cast<const E*>(src.data_ptr());
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<E> buffer(nhwc ? 0 : P * M);
    for (int64_t b = b0; b < b1; ++b) {
      const E* image = base + b * P * M;
      if (!nhwc) {
        transpose_image(image, buffer.data(), M, P);
        image = buffer.data();
      }
      f(b, image);
    }
  });
}

/// t (B, C, H, W), any layout, as (B·H·W, C) rows: the GEMM operand of a
/// gradient with respect to the output. A view of channels-last memory; from
/// row-major memory each image transposed straight into its rows.
template <typename E>
torch::Tensor rows_of(const torch::Tensor& t) {
  const int64_t B = t.size(0), C = t.size(1), P = t.size(2) * t.size(3);
  if (t.is_contiguous(at::MemoryFormat::ChannelsLast))
    return t.permute({0, 2, 3, 1}).reshape({B * P, C});  // (B·H·W, C), no copy
  const auto src = t.contiguous();                         // (B, C, H, W)
  auto rows = at::empty({B * P, C}, t.options());          // (B·H·W, C)
  const E* from = static_cast<const E*>(src.data_ptr());
  E* to = static_cast<E*>(rows.data_ptr());
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) transpose_image(from + b * C * P, to + b * P * C, C, P);
  });
  return rows;
}

/// The k×k windows of `input` (B, M, H, W) that conv2d with this stride and
/// padding reads, one row per output position: (B·Ho·Wo, k·k·M), columns in
/// (kh, kw, m) order. From an image in NHWC a window's row kh is one run of
/// up to k·M contiguous values, so each output row is k copies and the zeros
/// of the padding: one pass, on every thread. Written out because ATen's
/// route (a zero-filled padded NHWC buffer, the input copied into it, then
/// a 6-d strided view copied by reshape) made three passes, the last a
/// generic strided copy: 17 % of a bf16 CSC-CTRL step's main-thread samples
/// (docs/performance.md, "One dictionary per objective").
template <typename E>
torch::Tensor im2col_nhwc(const torch::Tensor& input, int64_t k, int64_t stride, int64_t padding,
                          int64_t Ho, int64_t Wo) {
  const int64_t B = input.size(0), M = input.size(1), H = input.size(2), W = input.size(3);
  auto cols = at::empty({B * Ho * Wo, k * k * M}, input.options());  // (B·Ho·Wo, k·k·M)
  E* dst = static_cast<E*>(cols.data_ptr());
  const size_t pixel = static_cast<size_t>(M) * sizeof(E);  // bytes per (h, w)
  for_each_nhwc_image<E>(input, [&](int64_t b, const E* image) {
    for (int64_t ho = 0; ho < Ho; ++ho) {
      for (int64_t wo = 0; wo < Wo; ++wo) {
        const int64_t iw0 = wo * stride - padding;
        // Columns kw in [lo, hi) fall inside the image.
        const int64_t lo = std::min<int64_t>(k, std::max<int64_t>(0, -iw0));
        const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(k, W - iw0));
        char* out = reinterpret_cast<char*>(dst + ((b * Ho + ho) * Wo + wo) * k * k * M);
        for (int64_t kh = 0; kh < k; ++kh, out += k * pixel) {
          const int64_t ih = ho * stride + kh - padding;
          if (ih < 0 || ih >= H || hi == lo) {
            std::memset(out, 0, k * pixel);  // all-zero bits: 0 in bf16 and fp32
            continue;
          }
          if (lo > 0) std::memset(out, 0, lo * pixel);
          std::memcpy(out + lo * pixel, image + (ih * W + iw0 + lo) * M, (hi - lo) * pixel);
          if (hi < k) std::memset(out + hi * pixel, 0, (k - hi) * pixel);
        }
      }
    }
  });
  return cols;
}

/// The weight gradient as one GEMM:
///   ∂/∂W[c, m, i, j] = Σ_{b,p} G[b, c, p]·X[b, m, s·p + (i, j) − pad],
/// i.e. Gᵀ (C × B·Ho·Wo) times the im2col matrix (B·Ho·Wo × k·k·M).
torch::Tensor weight_gradient_gemm(const torch::Tensor& grad_output, const torch::Tensor& input,
                                   int64_t k, int64_t stride, int64_t padding) {
  const int64_t C = grad_output.size(1);
  const int64_t Ho = grad_output.size(2), Wo = grad_output.size(3), M = input.size(1);
  TORCH_CHECK(input.element_size() == 2 && grad_output.element_size() == 2,
              "weight_gradient_gemm: bf16 operands");
  auto cols = im2col_nhwc<uint16_t>(input, k, stride, padding, Ho, Wo);  // (B·Ho·Wo, k·k·M)
  auto g = rows_of<uint16_t>(grad_output);                               // (B·Ho·Wo, C)
  auto gw = g.t().mm(cols);                                              // (C, k·k·M)
  // Each atom's (k·k, M) block transposed to (M, k·k) by tiles: as
  // permute({0, 3, 1, 2}).contiguous(), a generic strided copy with a
  // 4-element inner loop, it took 2 % of a bf16 CSC-CTRL step.
  auto out = at::empty({C, M, k, k}, gw.options());                      // (C, M, k, k)
  const uint16_t* from = static_cast<const uint16_t*>(gw.data_ptr());
  uint16_t* to = static_cast<uint16_t*>(out.data_ptr());
  const int64_t block = k * k * M;
  at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) transpose_image(from + c * block, to + c * block, k * k, M);
  });
  return out;
}

/// conv2d whose backward takes this file's routes (bias handled outside):
/// conv2d_input_gradient, or for few signal channels (`few`:
/// conv2d_with_few_channel_input_gradient) the phase planes or the
/// channels-last kernel by x's layout, and conv2d_weight_gradient.
struct Conv2dFunction : public torch::autograd::Function<Conv2dFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, int64_t stride, int64_t padding,
                               bool few) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["few"] = few;
    return torch::conv2d(x, weight, {}, stride, padding);  // (B, C, Ho, Wo)
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const int64_t stride = ctx->saved_data["stride"].toInt();
    const int64_t padding = ctx->saved_data["padding"].toInt();
    const bool few = ctx->saved_data["few"].toBool();
    // In x's layout: channels-last for the channels-last kernel, row-major
    // for the phase planes.
    const bool cl = few && channels_last_transposed_conv_applies(x, weight);
    const auto grad = !few ? grads[0]
                      : cl ? grads[0].contiguous(at::MemoryFormat::ChannelsLast)
                           : grads[0].contiguous();  // (B, C, Ho, Wo)
    torch::Tensor grad_x, grad_w;
    if (ctx->needs_input_grad(0) && cl)
      grad_x = transposed_conv_channels_last(grad, weight, stride, padding, x.size(2),
                                             x.size(3));  // (B, M, H, W), channels-last
    else if (ctx->needs_input_grad(0))
      grad_x = few ? transposed_conv_by_phases(grad, weight, stride, padding, x.size(2), x.size(3))
                   : conv2d_input_gradient(grad, x, weight, stride, padding);  // (B, M, H, W)
    if (ctx->needs_input_grad(1))
      grad_w = conv2d_weight_gradient(grad, x, weight, stride, padding);  // (C, M, k, k)
    return {grad_x, grad_w, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

/// conv2d(x, weight) + bias whose gradients take conv2d_input_gradient and
/// conv2d_weight_gradient (the bias's by autograd).
torch::Tensor conv2d_with_own_gradients(const torch::Tensor& x, const torch::Tensor& weight,
                                        const torch::Tensor& bias, int64_t stride,
                                        int64_t padding) {
  auto y = Conv2dFunction::apply(x, weight, stride, padding, false);  // (B, C, Ho, Wo)
  return bias.defined() ? y + bias.view({1, -1, 1, 1}) : y;
}

/// A 1×1 convolution at stride > 1 without padding, of the kind whose
/// channels-last weight gradient oneDNN 2.6 breaks on AVX2-only CPUs
/// (conv2d_plain): few input channels (it failed at 4; 16 and more, every
/// real network's width, ran), CPU, no AVX-512. Elsewhere the subsampled form
/// cost ResNet-18's training step 2.7 % (its slice's backward scatters into a
/// full-size zero tensor), so it stays where it is needed.
bool strided_pointwise(const torch::Tensor& input, const torch::Tensor& weight, int64_t stride,
                       int64_t padding) {
  return stride > 1 && padding == 0 && weight.size(2) == 1 && weight.size(3) == 1 &&
         input.device().is_cpu() && input.size(1) < 8 && !cpu_has_avx512();
}

/// x's every stride-th row and column from the first: what a strided 1×1
/// convolution reads.
torch::Tensor subsampled(const torch::Tensor& x, int64_t stride) {
  return x.slice(2, 0, x.size(2), stride).slice(3, 0, x.size(3), stride);  // (B, M, ⌈H/s⌉, ⌈W/s⌉)
}

}  // namespace

bool conv2d_weight_gradient_uses_gemm(const torch::Tensor& input, const torch::Tensor& weight,
                                      int64_t stride) {
  // Stride 1 only on maps of at most 4×4, where oneDNN's weight gradient is
  // slowest (128→128 k3 4² b128: 2.0 ms against 0.62 for the GEMM alone).
  return input.device().is_cpu() && input.scalar_type() == torch::kBFloat16 &&
         (stride >= 2 || input.size(2) * input.size(3) <= 16) &&
         weight.size(2) == weight.size(3) &&
         weight.size(1) * weight.size(2) * weight.size(3) >= 256;
}

torch::Tensor stride_one_adjoint_weight(const torch::Tensor& weight) {
  return weight.transpose(0, 1).flip({2, 3}).contiguous();  // (M, C, k, k)
}

bool conv2d_input_gradient_by_forward(const torch::Tensor& grad_output,
                                      const torch::Tensor& weight, int64_t stride,
                                      int64_t padding) {
  return grad_output.device().is_cpu() && grad_output.scalar_type() == torch::kBFloat16 &&
         weight.scalar_type() == torch::kBFloat16 && stride == 1 &&
         weight.size(2) == weight.size(3) && padding <= weight.size(2) - 1;
}

torch::Tensor conv2d_input_gradient(const torch::Tensor& grad_output,
                                    const torch::Tensor& input_like, const torch::Tensor& weight,
                                    int64_t stride, int64_t padding) {
  if (emulates_bf16(grad_output))
    return conv2d_input_gradient(widened(grad_output),
                                 at::empty_like(input_like, input_like.options().dtype(torch::kFloat)),
                                 widened(weight), stride, padding)
        .to(torch::kBFloat16);  // (B, M, H, W)
  if (conv2d_input_gradient_by_forward(grad_output, weight, stride, padding))
    return torch::conv2d(grad_output, stride_one_adjoint_weight(weight), {}, 1,
                         weight.size(2) - 1 - padding);  // (B, M, H, W)
  return std::get<0>(at::convolution_backward(grad_output, input_like, weight, c10::nullopt,
                                              pair(stride), pair(padding), pair(1), false,
                                              pair(0), 1, {true, false, false}));  // (B, M, H, W)
}

torch::Tensor conv2d_weight_gradient(const torch::Tensor& grad_output, const torch::Tensor& input,
                                     const torch::Tensor& weight, int64_t stride,
                                     int64_t padding) {
  if (emulates_bf16(input))
    return conv2d_weight_gradient(widened(grad_output), widened(input), widened(weight), stride,
                                  padding)
        .to(torch::kBFloat16)
        .contiguous();  // (C, M, k, k)
  if (conv2d_weight_gradient_uses_gemm(input, weight, stride))
    return weight_gradient_gemm(grad_output, input, weight.size(2), stride, padding);
  if (patch_weight_gradient_applies(input, weight))
    return weight_gradient_by_patches(grad_output, input, weight, stride, padding);  // (C, M, k, k)
  if (strided_pointwise(input, weight, stride, padding))  // as conv2d_plain computes the forward
    return conv2d_weight_gradient(
        grad_output, subsampled(input, stride).contiguous(input.suggest_memory_format()), weight,
        1, 0);  // (C, M, 1, 1)
  return std::get<1>(at::convolution_backward(grad_output, input, weight, c10::nullopt,
                                              pair(stride), pair(padding), pair(1), false,
                                              pair(0), 1, {false, true, false}));  // (C, M, k, k)
}

torch::Tensor conv2d_plain(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& bias, int64_t stride, int64_t padding) {
  if (patch_weight_gradient_applies(x, weight) && weight.requires_grad() &&
      torch::GradMode::is_enabled()) {
    // A grayscale stem: its weight gradient from patches, its input gradient
    // by oneDNN as autograd's would be (conv2d_weight_gradient).
    return conv2d_with_own_gradients(x, weight, bias, stride, padding);  // (B, C, Ho, Wo)
  }
  if (strided_pointwise(x, weight, stride, padding))
    return torch::conv2d(subsampled(x, stride).contiguous(x.suggest_memory_format()), weight,
                         bias);  // (B, C, Ho, Wo)
  return torch::conv2d(x, weight, bias, stride, padding);  // (B, C, Ho, Wo)
}

torch::Tensor conv2d_bf16(const torch::Tensor& x, const torch::Tensor& weight,
                          const torch::Tensor& bias, int64_t stride, int64_t padding) {
  if (emulates_bf16(x))  // autograd carries the gradients back through the casts
    return conv2d_plain(widened(x), widened(weight), widened(bias), stride, padding)
        .to(torch::kBFloat16);  // (B, C, Ho, Wo)
  if (!conv2d_weight_gradient_uses_gemm(x, weight, stride) &&
      !conv2d_input_gradient_by_forward(x, weight, stride, padding))
    return conv2d_plain(x, weight, bias, stride, padding);
  return conv2d_with_own_gradients(x, weight, bias, stride, padding);  // (B, C, Ho, Wo)
}

torch::Tensor conv2d_with_few_channel_input_gradient(const torch::Tensor& x,
                                                    const torch::Tensor& weight, int64_t stride,
                                                    int64_t padding) {
  return Conv2dFunction::apply(x, weight, stride, padding, true);  // (B, C, Ho, Wo)
}

}  // namespace sparseloop
