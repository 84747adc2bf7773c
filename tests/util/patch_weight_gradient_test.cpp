#include "sparseloop/util/patch_weight_gradient.h"

#include <gtest/gtest.h>

#include "sparseloop/util/conv2d_bf16.h"

using namespace sparseloop;

namespace {

// LibTorch's own weight gradient in float64: the independent reference.
torch::Tensor reference(const torch::Tensor& grad, const torch::Tensor& x, const torch::Tensor& w,
                        int64_t s, int64_t p) {
  return std::get<1>(at::convolution_backward(
      grad.to(torch::kDouble).contiguous(), x.to(torch::kDouble).contiguous(),
      w.to(torch::kDouble), c10::nullopt, {s, s}, {p, p}, {1, 1}, false, {0, 0}, 1,
      {false, true, false}));
}

}  // namespace

// Over strides, kernels (every packed width: taps 1, 9, 16, 25, 48, 64),
// paddings, odd and non-square maps, batches that do not fill the blocks of
// images, one to four input channels, and both layouts of either operand:
// float64 to float64's resolution, float32 to float32's.
TEST(PatchWeightGradient, EqualsConvolutionBackwardInEveryLayout) {
  torch::manual_seed(0);
  const auto cl = at::MemoryFormat::ChannelsLast;
  struct Case {
    int64_t B, C, M, k, s, p, H, W;
  };
  for (const Case c : {Case{64, 32, 1, 4, 2, 1, 32, 32}, Case{5, 16, 1, 3, 1, 1, 28, 28},
                       Case{3, 7, 1, 5, 3, 2, 20, 19}, Case{9, 4, 1, 1, 2, 0, 9, 7},
                       Case{2, 6, 3, 4, 2, 1, 15, 17}, Case{6, 3, 4, 4, 1, 3, 8, 11},
                       Case{1, 5, 1, 8, 1, 0, 12, 10}, Case{4, 33, 1, 3, 2, 0, 10, 13}}) {
    const int64_t Ho = (c.H + 2 * c.p - c.k) / c.s + 1, Wo = (c.W + 2 * c.p - c.k) / c.s + 1;
    auto x = torch::randn({c.B, c.M, c.H, c.W}, torch::kDouble);
    auto g = torch::randn({c.B, c.C, Ho, Wo}, torch::kDouble);
    auto w = torch::empty({c.C, c.M, c.k, c.k}, torch::kDouble);
    const auto ref = reference(g, x, w, c.s, c.p);  // (C, M, k, k)
    const double scale = ref.abs().max().item<double>();
    for (const bool x_cl : {false, true})
      for (const bool g_cl : {false, true}) {
        auto xl = x_cl ? x.contiguous(cl) : x, gl = g_cl ? g.contiguous(cl) : g;
        auto got = weight_gradient_by_patches(gl, xl, w, c.s, c.p);
        ASSERT_EQ(got.sizes(), ref.sizes());
        EXPECT_LT((got - ref).abs().max().item<double>(), 1e-12 * scale)
            << c.M << "→" << c.C << " k" << c.k << " s" << c.s << " " << x_cl << g_cl;
        auto got32 = weight_gradient_by_patches(gl.to(torch::kFloat), xl.to(torch::kFloat),
                                                w.to(torch::kFloat), c.s, c.p);
        EXPECT_EQ(got32.scalar_type(), torch::kFloat);
        EXPECT_LT((got32.to(torch::kDouble) - ref).abs().max().item<double>(), 2e-6 * scale)
            << c.M << "→" << c.C << " k" << c.k << " s" << c.s << " " << x_cl << g_cl;
      }
  }
  // A strided view of the gradient (not dense) is read through a copy.
  auto x = torch::randn({3, 1, 12, 12}, torch::kDouble);
  auto g2 = torch::randn({3, 8, 12, 24}, torch::kDouble);
  auto g = g2.slice(3, 0, 24, 2);  // (3, 8, 12, 12), not dense
  auto w = torch::empty({8, 1, 3, 3}, torch::kDouble);
  EXPECT_LT((weight_gradient_by_patches(g, x, w, 1, 1) - reference(g, x, w, 1, 1))
                .abs().max().item<double>(), 1e-12);
}

// The images are summed in blocks of a fixed size and the blocks in order:
// one thread and two give the same bits.
TEST(PatchWeightGradient, DoesNotDependOnTheThreadCount) {
  torch::manual_seed(1);
  auto x = torch::randn({37, 1, 32, 32});
  auto g = torch::randn({37, 32, 16, 16});
  auto w = torch::empty({32, 1, 4, 4});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = weight_gradient_by_patches(g, x, w, 2, 1);
  at::set_num_threads(2);
  const auto two = weight_gradient_by_patches(g, x, w, 2, 1);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one, two));
}

TEST(PatchWeightGradient, AppliesToOneChannelFewTapCpuConvolutions) {
  auto x = torch::randn({2, 1, 8, 8});
  EXPECT_TRUE(patch_weight_gradient_applies(x, torch::randn({16, 1, 4, 4})));
  EXPECT_TRUE(patch_weight_gradient_applies(x.to(torch::kDouble), torch::randn({16, 1, 8, 8}, torch::kDouble)));
  EXPECT_FALSE(patch_weight_gradient_applies(x, torch::randn({16, 1, 9, 9})));   // 81 taps
  EXPECT_FALSE(patch_weight_gradient_applies(torch::randn({2, 3, 8, 8}), torch::randn({16, 3, 3, 3})));  // RGB: oneDNN
  EXPECT_FALSE(patch_weight_gradient_applies(x, torch::randn({16, 1, 3, 3}, torch::kDouble)));  // dtypes
  EXPECT_FALSE(patch_weight_gradient_applies(x.to(torch::kBFloat16), torch::randn({16, 1, 3, 3}).to(torch::kBFloat16)));
  EXPECT_FALSE(patch_weight_gradient_applies(x, torch::randn({16, 1, 3, 2})));  // not square
  // Shapes that do not belong together: a one-line error, not a wrong result.
  auto w = torch::empty({16, 1, 3, 3});
  EXPECT_THROW(weight_gradient_by_patches(torch::randn({2, 16, 5, 5}), x, w, 1, 1), c10::Error);
  EXPECT_THROW(weight_gradient_by_patches(torch::randn({2, 8, 8, 8}), x, w, 1, 1), c10::Error);
  EXPECT_THROW(weight_gradient_by_patches(torch::randn({3, 16, 8, 8}), x, w, 1, 1), c10::Error);
  EXPECT_THROW(weight_gradient_by_patches(torch::randn({2, 16, 8, 8}), x, torch::empty({16, 1, 9, 9}), 1, 4),
               c10::Error);
}

// conv2d_plain takes this route for a grayscale stem whose weight is
// trained: forward, input, weight and bias gradients equal autograd's
// through torch::conv2d in float64.
TEST(PatchWeightGradient, Conv2dPlainOfAGrayscaleStemEqualsTorchConv2d) {
  torch::manual_seed(2);
  for (const int64_t s : {1, 2}) {
    auto x = torch::randn({5, 1, 13, 13}, torch::kDouble).requires_grad_();
    auto w = torch::randn({6, 1, 3, 3}, torch::kDouble).requires_grad_();
    auto b = torch::randn({6}, torch::kDouble).requires_grad_();
    auto x2 = x.detach().clone().requires_grad_(), w2 = w.detach().clone().requires_grad_(),
         b2 = b.detach().clone().requires_grad_();
    auto y = conv2d_plain(x, w, b, s, 1);
    auto y2 = torch::conv2d(x2, w2, b2, s, 1);
    ASSERT_EQ(y.sizes(), y2.sizes());
    EXPECT_LT((y - y2).abs().max().item<double>(), 1e-12);
    auto up = torch::randn_like(y);
    (y * up).sum().backward();
    (y2 * up).sum().backward();
    EXPECT_LT((x.grad() - x2.grad()).abs().max().item<double>(), 1e-12);
    EXPECT_LT((w.grad() - w2.grad()).abs().max().item<double>(), 1e-10);
    EXPECT_LT((b.grad() - b2.grad()).abs().max().item<double>(), 1e-10);
  }
}
