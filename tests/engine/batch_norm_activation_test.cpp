// Fused training-mode BatchNorm + LeakyReLU (engine/batch_norm_activation.h)
// against LibTorch's own two operators.
#include "sparseloop/engine/batch_norm_activation.h"

#include <gtest/gtest.h>

#include "sparseloop/engine/batch_norm.h"
#include "support/testing.h"

using namespace sparseloop;
using test_support::relative_error;

namespace {

torch::Tensor composite(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                        double slope) {
  auto y = torch::batch_norm(x, w, b, {}, {}, /*training=*/true, 0.1, 1e-5, false);
  return slope == 0.0 ? torch::relu(y)
                      : torch::nn::functional::leaky_relu(
                            y, torch::nn::functional::LeakyReLUFuncOptions().negative_slope(slope));
}

struct Grads {
  torch::Tensor y, gx, gw, gb;
};

Grads run(bool fused, const torch::Tensor& x0, const torch::Tensor& w0, const torch::Tensor& b0,
          const torch::Tensor& upstream, double slope, bool channels_last = false) {
  auto x = (channels_last ? x0.contiguous(at::MemoryFormat::ChannelsLast) : x0.clone())
               .requires_grad_();
  auto w = w0.defined() ? w0.clone().requires_grad_() : w0;
  auto b = b0.defined() ? b0.clone().requires_grad_() : b0;
  auto y = fused ? batch_norm_leaky_relu(x, w, b, 1e-5, slope).output : composite(x, w, b, slope);
  (y * upstream).sum().backward();
  return {y.detach(), x.grad(), w.defined() ? w.grad() : w, b.defined() ? b.grad() : b};
}

}  // namespace

// Float64: output and the three gradients equal LibTorch's batch_norm then
// leaky_relu (and relu) to 1e-11, affine or not, on a channel far off zero
// (the two-pass variance); float32 within 1e-5 of the float64 reference.
TEST(BatchNormActivation, EqualsBatchNormThenLeakyReluFloat64) {
  torch::manual_seed(0);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  for (double slope : {0.2, 0.0}) {
    for (bool affine : {true, false}) {
      for (auto shape : std::vector<std::vector<int64_t>>{{5, 3, 7, 6}, {64, 8, 4, 4}}) {
        auto x = torch::randn(shape, f64);
        x.select(1, 1).add_(50.0);  // one channel with a large mean
        auto w = affine ? torch::rand({shape[1]}, f64) + 0.5 : torch::Tensor();
        auto b = affine ? torch::randn({shape[1]}, f64) : torch::Tensor();
        auto up = torch::randn(shape, f64);
        const Grads ref = run(false, x, w, b, up, slope);
        for (bool cl : {false, true}) {
          const Grads got = run(true, x, w, b, up, slope, cl);
          EXPECT_LT(relative_error(got.y, ref.y), 1e-12) << slope << affine << cl;
          EXPECT_LT(relative_error(got.gx, ref.gx), 1e-11) << slope << affine << cl;
          // The layout of the input is the output's and the gradient's.
          EXPECT_EQ(got.y.is_contiguous(), !cl);
          EXPECT_EQ(got.gx.is_contiguous(at::MemoryFormat::ChannelsLast), cl);
          if (affine) {
            EXPECT_LT(relative_error(got.gw, ref.gw), 1e-11) << cl;
            EXPECT_LT(relative_error(got.gb, ref.gb), 1e-11) << cl;
          }
        }
        for (bool cl : {false, true}) {
          const Grads f32 = run(true, x.to(torch::kFloat), affine ? w.to(torch::kFloat) : w,
                                affine ? b.to(torch::kFloat) : b, up.to(torch::kFloat), slope, cl);
          EXPECT_EQ(f32.y.scalar_type(), torch::kFloat);
          EXPECT_LT(relative_error(f32.y, ref.y), 1e-5) << cl;
          EXPECT_LT(relative_error(f32.gx, ref.gx), 1e-4) << cl;
        }
      }
    }
  }
}

// The statistics it returns are the batch's mean and biased variance.
TEST(BatchNormActivation, ReturnsTheBatchStatistics) {
  torch::manual_seed(1);
  auto x = torch::randn({6, 4, 5, 5}) * 3 + 2;
  auto r = batch_norm_leaky_relu(x, {}, {}, 1e-5, 0.2);
  auto xd = x.to(torch::kDouble);
  EXPECT_LT(relative_error(r.mean, xd.mean({0, 2, 3})), 1e-6);
  EXPECT_LT(relative_error(r.var, xd.var({0, 2, 3}, /*unbiased=*/false)), 1e-6);
  EXPECT_FALSE(r.mean.requires_grad());
  const auto strided = x.transpose(2, 3);  // neither row-major nor channels-last
  EXPECT_THROW(batch_norm_leaky_relu(strided, {}, {}, 1e-5, 0.2), c10::Error);
  EXPECT_THROW(batch_norm_leaky_relu(x, {}, {}, 1e-5, -0.1), c10::Error);
  EXPECT_THROW(batch_norm_leaky_relu(x, torch::ones({3}), {}, 1e-5, 0.2), c10::Error);
}

// SyncBatchNorm2d::forward_leaky_relu: the fused function in training (same
// output and running statistics as forward then leaky_relu), the plain
// operators in evaluation and for a layout the fused function does not take.
TEST(BatchNormActivation, ModuleKeepsBatchNormsRunningStatistics) {
  torch::manual_seed(2);
  SyncBatchNorm2d fused(4), plain(4);
  {
    torch::NoGradGuard g;
    fused->weight.uniform_(0.5, 1.5);
    fused->bias.normal_();
    plain->weight.copy_(fused->weight);
    plain->bias.copy_(fused->bias);
  }
  auto act = [](const torch::Tensor& y) {
    return torch::nn::functional::leaky_relu(
        y, torch::nn::functional::LeakyReLUFuncOptions().negative_slope(0.2));
  };
  for (int step = 0; step < 3; ++step) {
    auto x = torch::randn({8, 4, 6, 6}) * (step + 1) + step;
    EXPECT_LT(relative_error(fused->forward_leaky_relu(x, 0.2), act(plain->forward(x))), 1e-5);
  }
  EXPECT_LT(relative_error(fused->running_mean, plain->running_mean), 1e-6);
  EXPECT_LT(relative_error(fused->running_var, plain->running_var), 1e-6);
  EXPECT_EQ(fused->num_batches_tracked.item<int64_t>(), 3);
  auto cl = (torch::randn({8, 4, 6, 6})).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_LT(relative_error(fused->forward_leaky_relu(cl, 0.0), torch::relu(plain->forward(cl))),
            1e-6);
  fused->eval();
  plain->eval();
  {
    // The same statistics for both (equal above only to float32's
    // resolution), so that bit equality tests the route alone.
    torch::NoGradGuard g;
    fused->running_mean.copy_(plain->running_mean);
    fused->running_var.copy_(plain->running_var);
  }
  auto x = torch::randn({2, 4, 6, 6});
  EXPECT_TRUE(torch::equal(fused->forward_leaky_relu(x, 0.2), act(plain->forward(x))));
}

// Channels-last float32 statistics as accurate as the row-major kernel's, on
// a large channel mean (the case SDNet's codes and sums reach): LibTorch
// 1.13's own channels-last BatchNorm sums in float32 and is off by 14–50×
// more; SyncBatchNorm2d therefore takes this kernel for channels-last input
// in training, with BatchNorm2d's running statistics.
TEST(BatchNormActivation, ChannelsLastStatisticsStayAccurateWhereLibTorchsDoNot) {
  torch::manual_seed(4);
  const auto cl = at::MemoryFormat::ChannelsLast;
  auto x = torch::randn({32, 16, 24, 24}) * 0.1 + 100.0;  // (32, 16, 24, 24)
  const auto ref = torch::batch_norm(x.to(torch::kDouble), {}, {}, {}, {}, true, 0.1, 1e-5, false);
  auto err = [&](const torch::Tensor& y) {
    return (y.to(torch::kDouble) - ref).abs().max().item<double>();
  };
  const double ours_cl = err(batch_norm_leaky_relu(x.contiguous(cl), {}, {}, 1e-5, 1.0).output);
  const double ours_rm = err(batch_norm_leaky_relu(x, {}, {}, 1e-5, 1.0).output);
  const double libtorch_cl = err(torch::batch_norm(x.contiguous(cl), {}, {}, {}, {}, true, 0.1,
                                                   1e-5, false));
  EXPECT_LT(ours_cl, 2.0 * ours_rm + 1e-6);
  EXPECT_LT(ours_cl, 1e-4);
  EXPECT_GT(libtorch_cl, 5.0 * ours_cl);  // what the kernel is for

  // The module: channels-last in training takes it, output channels-last,
  // running statistics as BatchNorm2d's over the same batches.
  SyncBatchNorm2d ours(16), plain(16);
  for (int step = 0; step < 2; ++step) {
    auto xs = torch::randn({8, 16, 6, 6}) * (step + 1) + step;
    auto y = ours->forward(xs.contiguous(cl));
    EXPECT_TRUE(y.is_contiguous(cl));
    EXPECT_LT(relative_error(y, plain->forward(xs)), 1e-5);
  }
  EXPECT_LT(relative_error(ours->running_mean, plain->running_mean), 1e-6);
  EXPECT_LT(relative_error(ours->running_var, plain->running_var), 1e-6);
  EXPECT_EQ(ours->num_batches_tracked.item<int64_t>(), 2);
}
