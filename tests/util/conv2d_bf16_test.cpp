#include "sparseloop/util/conv2d_bf16.h"
#include "sparseloop/util/precision.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "support/testing.h"

using namespace sparseloop;
using test_support::relative_error;

namespace {

/// bf16 values, so that a float64 computation on the same numbers is the
/// reference: what remains is fp32 accumulation and the result's rounding to
/// bf16 (2⁻⁹ relative per element).
torch::Tensor bf16_randn(at::IntArrayRef sizes) {
  return torch::randn(sizes).to(torch::kBFloat16);
}

struct Shape {
  int64_t B, M, C, H, k, stride, padding;
};

}  // namespace

TEST(Conv2dBf16, GemmRouteOnlyForStridedBf16LayersWithManyInputs) {
  auto x = torch::zeros({2, 32, 16, 16}, torch::kBFloat16);
  auto w = torch::zeros({64, 32, 4, 4}, torch::kBFloat16);
  EXPECT_TRUE(conv2d_weight_gradient_uses_gemm(x, w, 2));
  EXPECT_FALSE(conv2d_weight_gradient_uses_gemm(x, w, 1));                     // stride 1
  EXPECT_FALSE(conv2d_weight_gradient_uses_gemm(x.to(torch::kFloat), w, 2));  // fp32
  EXPECT_FALSE(conv2d_weight_gradient_uses_gemm(x.narrow(1, 0, 8),
                                                w.narrow(1, 0, 8), 2));  // 8·16 < 256
  EXPECT_FALSE(conv2d_weight_gradient_uses_gemm(
      x, torch::zeros({64, 32, 4, 3}, torch::kBFloat16), 2));  // not square
  // Stride 1 on the smallest maps (SDNet-18's last stage): 4×4 and less.
  auto small = torch::zeros({2, 128, 4, 4}, torch::kBFloat16);
  auto w3 = torch::zeros({128, 128, 3, 3}, torch::kBFloat16);
  EXPECT_TRUE(conv2d_weight_gradient_uses_gemm(small, w3, 1));
  EXPECT_FALSE(conv2d_weight_gradient_uses_gemm(torch::zeros({2, 128, 8, 8}, torch::kBFloat16),
                                                w3, 1));  // 8×8
  EXPECT_FALSE(conv2d_weight_gradient_uses_gemm(small.to(torch::kFloat), w3, 1));  // fp32
}

// The input gradient at stride 1 as a forward convolution with the weight
// transposed and flipped, against float64's backward-data: paddings 0 to
// k − 1, odd and even kernels, non-square maps, both layouts, and the route
// taken only where it applies.
TEST(Conv2dBf16, InputGradientByForwardConvolutionMatchesFloat64) {
  torch::manual_seed(3);
  auto w = bf16_randn({12, 8, 3, 3});
  auto g = bf16_randn({2, 12, 6, 6});
  EXPECT_TRUE(conv2d_input_gradient_by_forward(g, w, 1, 1));
  EXPECT_TRUE(conv2d_input_gradient_by_forward(g, w, 1, 2));
  EXPECT_FALSE(conv2d_input_gradient_by_forward(g, w, 1, 3));  // padding > k − 1
  EXPECT_FALSE(conv2d_input_gradient_by_forward(g, w, 2, 1));  // strided
  EXPECT_FALSE(conv2d_input_gradient_by_forward(g.to(torch::kFloat), w.to(torch::kFloat), 1, 1));
  int cases = 0;
  for (int64_t k : {3, 4}) {
    for (int64_t padding = 0; padding < k; ++padding) {
      for (bool channels_last : {false, true}) {
        const int64_t H = 9, W = 11;
        const int64_t Ho = H + 2 * padding - k + 1, Wo = W + 2 * padding - k + 1;
        auto wk = bf16_randn({12, 8, k, k});
        auto gk = bf16_randn({3, 12, Ho, Wo});
        auto like = at::empty({3, 8, H, W}, gk.options());
        if (channels_last) {
          gk = gk.contiguous(at::MemoryFormat::ChannelsLast);
          like = like.contiguous(at::MemoryFormat::ChannelsLast);
        }
        ASSERT_TRUE(conv2d_input_gradient_by_forward(gk, wk, 1, padding));
        auto ours = conv2d_input_gradient(gk, like, wk, 1, padding);  // (3, 8, H, W)
        auto ref = std::get<0>(at::convolution_backward(
            gk.to(torch::kDouble), like.to(torch::kDouble), wk.to(torch::kDouble), c10::nullopt,
            {1, 1}, {padding, padding}, {1, 1}, false, {0, 0}, 1, {true, false, false}));
        EXPECT_EQ(ours.sizes(), like.sizes());
        EXPECT_EQ(ours.scalar_type(), torch::kBFloat16);
        EXPECT_LT(relative_error(ours, ref), 4e-3) << "k " << k << " p " << padding;
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 14);
}

// conv2d_bf16 at stride 1 takes its own backward (the input gradient by a
// forward convolution; on a 4×4 map the weight gradient by GEMM too): input
// and weight gradients equal to float64's.
TEST(Conv2dBf16, AutogradMatchesFloat64AtStrideOne) {
  torch::manual_seed(4);
  for (int64_t size : {4, 7}) {
    auto x0 = bf16_randn({3, 32, size, size}).contiguous(at::MemoryFormat::ChannelsLast);
    auto w0 = bf16_randn({16, 32, 3, 3});
    auto up = bf16_randn({3, 16, size, size});
    auto x = x0.clone().requires_grad_(true);
    auto w = w0.clone().requires_grad_(true);
    auto y = conv2d_bf16(x, w, {}, 1, 1);  // (3, 16, size, size)
    EXPECT_TRUE(torch::equal(y.detach(), torch::conv2d(x0, w0, {}, 1, 1)));
    y.backward(up);
    auto xd = x0.to(torch::kDouble).requires_grad_(true);
    auto wd = w0.to(torch::kDouble).requires_grad_(true);
    torch::conv2d(xd, wd, {}, 1, 1).backward(up.to(torch::kDouble));
    EXPECT_LT(relative_error(x.grad(), xd.grad()), 4e-3) << size;
    EXPECT_LT(relative_error(w.grad(), wd.grad()), 4e-3) << size;
  }
}

// The weight gradient as im2col + GEMM against float64's, for the shapes the
// route takes (CSC-CTRL's k4 s2 layers, SDNet's k3 s2, no padding, odd sizes,
// non-square images, padding wider than a stride, channels-last inputs).
TEST(Conv2dBf16, GemmWeightGradientMatchesFloat64) {
  torch::manual_seed(0);
  int case_index = 0;
  for (const Shape& s : {Shape{4, 32, 16, 16, 4, 2, 1}, Shape{3, 32, 8, 9, 3, 2, 1},
                         Shape{2, 16, 8, 11, 4, 3, 0}, Shape{2, 16, 8, 9, 4, 2, 3},
                         Shape{4, 32, 8, 2, 3, 1, 1}}) {
    const int64_t W = s.H + 2 + case_index % 2;  // not square
    const int64_t Ho = (s.H + 2 * s.padding - s.k) / s.stride + 1;
    const int64_t Wo = (W + 2 * s.padding - s.k) / s.stride + 1;
    auto x = bf16_randn({s.B, s.M, s.H, W});
    if (case_index++ % 2 == 1) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    auto w = bf16_randn({s.C, s.M, s.k, s.k});
    auto g = bf16_randn({s.B, s.C, Ho, Wo});
    ASSERT_TRUE(conv2d_weight_gradient_uses_gemm(x, w, s.stride)) << s.M << " " << s.k;
    auto ours = conv2d_weight_gradient(g, x, w, s.stride, s.padding);  // (C, M, k, k)
    auto ref = std::get<1>(at::convolution_backward(
        g.to(torch::kDouble), x.to(torch::kDouble), w.to(torch::kDouble), c10::nullopt,
        {s.stride, s.stride}, {s.padding, s.padding}, {1, 1}, false, {0, 0}, 1,
        {false, true, false}));
    EXPECT_EQ(ours.sizes(), w.sizes());
    EXPECT_EQ(ours.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(ours.is_contiguous());
    EXPECT_LT(relative_error(ours, ref), 4e-3) << "M " << s.M << " k " << s.k << " s " << s.stride;
  }
}

// conv2d_bf16 is conv2d: the same forward as torch::conv2d on the same bf16
// operands (the bias added after it, as the route does), and input, weight and
// bias gradients equal to float64's.
TEST(Conv2dBf16, AutogradMatchesFloat64ThroughTheGemmRoute) {
  torch::manual_seed(1);
  auto x0 = bf16_randn({4, 32, 12, 12});
  auto w0 = bf16_randn({24, 32, 4, 4});
  auto b0 = bf16_randn({24});
  auto up = bf16_randn({4, 24, 6, 6});
  auto x = x0.clone().requires_grad_(true);
  auto w = w0.clone().requires_grad_(true);
  auto b = b0.clone().requires_grad_(true);
  auto y = conv2d_bf16(x, w, b, 2, 1);  // (4, 24, 6, 6)
  // Where the CPU has bf16 arithmetic, LibTorch's own bf16 convolution; else
  // the product of the widened operands, rounded once (emulates_bf16).
  const auto f = torch::kFloat;
  const auto ref = cpu_has_native_bf16()
                       ? torch::conv2d(x0, w0, {}, 2, 1) + b0.view({1, -1, 1, 1})
                       : torch::conv2d(x0.to(f), w0.to(f), b0.to(f), 2, 1).to(torch::kBFloat16);
  EXPECT_TRUE(torch::equal(y.detach(), ref));
  y.backward(up);

  auto xd = x0.to(torch::kDouble).requires_grad_(true);
  auto wd = w0.to(torch::kDouble).requires_grad_(true);
  auto bd = b0.to(torch::kDouble).requires_grad_(true);
  torch::conv2d(xd, wd, bd, 2, 1).backward(up.to(torch::kDouble));
  EXPECT_LT(relative_error(x.grad(), xd.grad()), 4e-3);
  EXPECT_LT(relative_error(w.grad(), wd.grad()), 4e-3);
  EXPECT_LT(relative_error(b.grad(), bd.grad()), 4e-3);
}

// A strided 1×1 convolution (conv2d_plain) equals torch::conv2d, forward and
// gradients, in float64; and the float32 channels-last shape whose oneDNN
// weight gradient hung or corrupted the heap on an AVX2 EPYC (4→8 1×1 s2 on
// 16², b16) runs and matches float64.
TEST(Conv2dBf16, StridedPointwiseConvolutionEqualsConv2d) {
  torch::manual_seed(3);
  const int64_t no_padding = 0;  // a literal 0 would also read as a padding string
  for (const int64_t size : {16, 15}) {
    auto x = torch::randn({3, 4, size, size}, torch::kDouble).requires_grad_(true);
    auto w = torch::randn({8, 4, 1, 1}, torch::kDouble).requires_grad_(true);
    auto up = torch::randn({3, 8, (size + 1) / 2, (size + 1) / 2}, torch::kDouble);
    auto y = conv2d_plain(x, w, torch::Tensor(), 2, 0);
    auto [gx, gw] = [&] {
      auto g = torch::autograd::grad({y}, {x, w}, {up});
      return std::make_pair(g[0], g[1]);
    }();
    auto y_ref = torch::conv2d(x, w, torch::Tensor(), 2, no_padding);
    auto g_ref = torch::autograd::grad({y_ref}, {x, w}, {up});
    EXPECT_LT((y - y_ref).abs().max().item<double>(), 1e-12) << size;
    EXPECT_LT((gx - g_ref[0]).abs().max().item<double>(), 1e-12) << size;
    EXPECT_LT((gw - g_ref[1]).abs().max().item<double>(), 1e-12) << size;
  }
  const auto cl = at::MemoryFormat::ChannelsLast;
  auto x = torch::randn({16, 4, 16, 16}).contiguous(cl).requires_grad_(true);
  auto w = torch::randn({8, 4, 1, 1}).contiguous(cl).requires_grad_(true);
  auto up = torch::randn({16, 8, 8, 8}).contiguous(cl);
  conv2d_plain(x, w, torch::Tensor(), 2, 0).backward(up);
  auto gw = conv2d_weight_gradient(up, x.detach(), w.detach(), 2, 0);
  auto xd = x.detach().to(torch::kDouble).requires_grad_(true);
  auto wd = w.detach().to(torch::kDouble).requires_grad_(true);
  torch::conv2d(xd, wd, torch::Tensor(), 2, no_padding).backward(up.to(torch::kDouble));
  EXPECT_LT(relative_error(w.grad(), wd.grad()), 1e-5);
  EXPECT_LT(relative_error(gw, wd.grad()), 1e-5);
  EXPECT_LT(relative_error(x.grad(), xd.grad()), 1e-5);
}
