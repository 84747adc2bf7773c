#include "sparseloop/sparse/csc_conv2d.h"

#include <gtest/gtest.h>

#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/util/precision.h"
#include "support/testing.h"

using namespace sparseloop;
using test_support::relative_error;

namespace {
auto f64 = torch::TensorOptions().dtype(torch::kDouble);
}

TEST(CscConv2d, OutputShapeMatchesConv2d) {
  for (auto [k, s, p] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {3, 1, 1}, {4, 2, 1}, {4, 1, 0}, {7, 2, 3}}) {
    CscConv2d csc(CscConv2dOptions(3, 8, k).stride(s).padding(p));
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, k).stride(s).padding(p).bias(false));
    auto x = torch::randn({2, 3, 17, 16});
    EXPECT_EQ(csc->forward(x).sizes(), conv->forward(x).sizes());
  }
}

// A CscConv2d drops into a Sequential where a Conv2d was, and trains.
TEST(CscConv2d, DropInForConv2dInSequential) {
  torch::manual_seed(0);
  torch::nn::Sequential net(CscConv2d(CscConv2dOptions(1, 4, 3, CscOptions().nonnegative(true)).padding(1)),
                            torch::nn::BatchNorm2d(4), torch::nn::Flatten(),
                            torch::nn::Linear(4 * 8 * 8, 2));
  torch::optim::SGD opt(net->parameters(), 0.05);
  auto x = torch::randn({16, 1, 8, 8});
  auto y = (x.mean({1, 2, 3}) > 0).to(torch::kLong);
  double first = 0, last = 0;
  for (int i = 0; i < 30; ++i) {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    loss.backward();
    opt.step();
    if (i == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, first);
}

// Unrolled FISTA is differentiable: float64 finite differences in the input
// and in the dictionary (the atom normalization included).
TEST(CscConv2d, GradientsMatchFiniteDifferences) {
  torch::manual_seed(1);
  for (bool nonneg : {false, true}) {
    CscConv2d layer(CscConv2dOptions(2, 4, 3, CscOptions().steps(3).lambda(0.05).nonnegative(nonneg).step_refresh(StepRefresh::kFixed)).stride(2).padding(1));
    layer->to(torch::kDouble);
    auto x = torch::randn({2, 2, 7, 7}, f64);
    layer->forward(x);  // fixes L, so the step is a constant under perturbation
    auto probe = torch::randn_like(layer->forward(x));
    auto in_x = [&](const torch::Tensor& xx) { return (layer->forward(xx) * probe).sum(); };
    EXPECT_LT(ts::gradcheck_error(in_x, x), 1e-6);
    auto w0 = layer->weight.detach().clone();
    auto in_w = [&](const torch::Tensor& w) {
      auto dict = normalize_atoms(w);
      auto op = conv_operator(dict, ConvGeometry{2, 1}, 7, 7);
      auto z = solve_lasso(op, x, layer->options.csc().prox(),
                     layer->options.csc().solver(layer->step())).z;
      return (z * probe).sum();
    };
    EXPECT_LT(ts::gradcheck_error(in_w, w0), 1e-6);
    // The module's own backward gives the same dictionary gradient.
    layer->zero_grad();
    (layer->forward(x) * probe).sum().backward();
    auto w = w0.clone().requires_grad_(true);
    auto g = torch::autograd::grad({in_w(w)}, {w})[0];
    EXPECT_LT((layer->weight.grad() - g).abs().max().item<double>(), 1e-10);
  }
}

TEST(CscConv2d, DecodeUsesTheSameDictionaryTensor) {
  CscConv2d layer(CscConv2dOptions(3, 6, 4).stride(2).padding(1));
  auto x = torch::randn({2, 3, 16, 16});
  auto z = layer->forward(x);
  auto xr = layer->decode(z);
  EXPECT_EQ(xr.sizes(), x.sizes());
  EXPECT_EQ(layer->parameters().size(), 1u);
  // Gradient from the decoder reaches the one weight parameter...
  xr.sum().backward();
  EXPECT_TRUE(layer->weight.grad().defined());
  EXPECT_GT(layer->weight.grad().abs().sum().item<double>(), 0);
  // ...unless the dictionary is held constant for that use.
  layer->zero_grad();
  auto zc = z.detach().requires_grad_(true);
  layer->decode(zc, -1, -1, /*detach_dictionary=*/true).sum().backward();
  EXPECT_TRUE(!layer->weight.grad().defined() || layer->weight.grad().abs().sum().item<double>() == 0);
  EXPECT_TRUE(zc.grad().defined());
}

TEST(CscConv2d, LargerLambdaGivesSparserCodes) {
  torch::manual_seed(2);
  CscConv2d layer(CscConv2dOptions(3, 16, 3, CscOptions().nonnegative(true)).padding(1));
  auto x = torch::randn({4, 3, 12, 12});
  double previous = -1;
  for (double lam : {0.01, 0.1, 0.5, 1.0}) {
    layer->options.csc().lambda(lam);
    const double zeros = (layer->forward(x) == 0).to(torch::kDouble).mean().item<double>();
    EXPECT_GE(zeros, previous);
    previous = zeros;
  }
  EXPECT_GT(previous, 0.5);
}

// The premise of SDNet's robust inference (Dai et al., NeurIPS 2022, §4.3):
// on a signal that is a sparse synthesis on a zero background, noise enters
// the codes of SDNet's stem settings (2 steps, non-negative, unit atoms,
// η = 0.9/L) largely as spurious activations where the clean codes are zero;
// raising λ to a few σ removes them, while the strong codes survive.
TEST(CscConv2d, RaisingLambdaRemovesSpuriousCodesOfNoise) {
  torch::manual_seed(5);
  CscConv2d layer(CscConv2dOptions(1, 8, 3, CscOptions().nonnegative(true).steps(2).step_factor(0.9)).padding(1));
  torch::NoGradGuard no_grad;
  // Clean images: a few strong non-negative atoms on a zero background that
  // covers most of the image, as on the MNIST digits.
  auto z_true = torch::zeros({16, 8, 24, 24});
  z_true.masked_fill_(torch::rand({16, 8, 24, 24}) < 0.002, 3.0);
  auto x = layer->decode(z_true, 24, 24);  // (16, 1, 24, 24)
  const double sigma = 0.3;
  auto noisy = x + sigma * torch::randn_like(x);
  struct Effect {
    double spurious_energy;  ///< ‖z_noisy where z_clean = 0‖ / ‖z_clean‖
    double spurious_support; ///< fraction of entries active only under noise
    double kept;             ///< fraction of the true atoms still active (clean)
  };
  auto effect = [&](double lambda) {
    layer->options.csc().lambda(lambda);
    auto zc = layer->forward(x), zn = layer->forward(noisy);  // (16, 8, 24, 24)
    auto off = zc == 0;
    Effect e;
    e.spurious_energy = (zn.masked_fill(~off, 0).norm() / zc.norm()).item<double>();
    e.spurious_support = (off & (zn > 0)).to(torch::kDouble).mean().item<double>();
    e.kept = ((zc > 0) & (z_true > 0)).sum().item<double>() / (z_true > 0).sum().item<double>();
    return e;
  };
  const Effect low = effect(0.1);  // SDNet's training λ
  const Effect high = effect(4 * sigma);
  // Measured: energy 0.52 → 0.20, support 27 % → 0.6 %, 100 % → 97 % kept.
  EXPECT_LT(high.spurious_energy, 0.5 * low.spurious_energy);
  EXPECT_GT(low.spurious_support, 0.2);
  EXPECT_LT(high.spurious_support, 0.05 * low.spurious_support);
  EXPECT_GT(high.kept, 0.9);
}

// The warm-started estimate converges to ‖D‖² from below and the step
// follows step_factor / L.
TEST(CscConv2d, StepFromPowerIteration) {
  torch::manual_seed(3);
  CscConv2d layer(CscConv2dOptions(3, 8, 3, CscOptions().step_factor(0.9)).padding(1));
  layer->to(torch::kDouble);
  auto x = torch::randn({2, 3, 10, 10}, f64);
  layer->forward(x);
  auto op = layer->op(10, 10);
  auto v = power_iteration_start({1, 8, 10, 10}, f64);
  const double L = power_iteration(op, v, 20000, 1e-13).lipschitz;
  EXPECT_LE(layer->lipschitz(), L * (1 + 1e-9));
  EXPECT_GT(layer->lipschitz(), 0.99 * L);
  EXPECT_NEAR(layer->step(), 0.9 / layer->lipschitz(), 1e-12);
  // on-change: no refresh while the dictionary is unchanged.
  layer->options.csc().step_refresh(StepRefresh::kOnChange);
  const double before = layer->lipschitz();
  layer->forward(x);
  EXPECT_EQ(layer->lipschitz(), before);
  {
    torch::NoGradGuard g;
    layer->weight.mul_(1.5);
  }
  layer->forward(x);  // atoms are renormalized, but the version changed: refreshed
  EXPECT_NE(layer->lipschitz(), 0.0);
}

// on-change runs no power iteration while the dictionary is unchanged and sees
// every change: an in-place edit, an optimizer step (which LibTorch writes
// without bumping the tensor's version, so no version counter may stand in
// for the comparison), another code shape, restored buffers.
TEST(CscConv2d, OnChangeRefreshSeesEveryWeightChange) {
  torch::manual_seed(7);
  CscConv2d layer(CscConv2dOptions(2, 6, 3, CscOptions().step_refresh(StepRefresh::kOnChange))
                      .padding(1));
  auto x = torch::randn({2, 2, 8, 8});
  layer->forward(x);
  EXPECT_GT(layer->last_power_iterations(), 0);  // the first estimate
  layer->forward(x);
  EXPECT_EQ(layer->last_power_iterations(), 0);  // unchanged: nothing run
  const double first = layer->lipschitz();
  {
    torch::NoGradGuard g;
    layer->weight.add_(torch::randn_like(layer->weight));  // in place, same tensor
  }
  layer->forward(x);
  EXPECT_GT(layer->last_power_iterations(), 0);
  EXPECT_NE(layer->lipschitz(), first);
  torch::optim::SGD opt(layer->parameters(), torch::optim::SGDOptions(0.5));
  layer->forward(x).pow(2).sum().backward();
  ASSERT_GT(layer->weight.grad().abs().max().item<double>(), 0.0);
  opt.step();  // LibTorch's optimizers write through .data(): no version bump
  layer->forward(x);
  EXPECT_GT(layer->last_power_iterations(), 0);  // the optimizer's step
  layer->forward(torch::randn({3, 2, 8, 8}));
  EXPECT_EQ(layer->last_power_iterations(), 0);  // another batch, same shape
  layer->forward(torch::randn({1, 2, 6, 6}));
  EXPECT_GT(layer->last_power_iterations(), 0);  // another code shape: cold
  // Buffers and weight restored from another layer: L is that layer's, and
  // read off the buffers, not re-estimated.
  CscConv2d other(CscConv2dOptions(2, 6, 3, CscOptions().step_refresh(StepRefresh::kOnChange))
                      .padding(1));
  other->forward(x);
  {
    torch::NoGradGuard g;
    for (const auto& item : other->named_parameters())
      layer->named_parameters()[item.key()].copy_(item.value());
    for (const auto& item : other->named_buffers()) {
      auto b = layer->named_buffers()[item.key()];
      b.resize_(item.value().sizes());
      b.copy_(item.value());
    }
  }
  layer->forward(x);
  EXPECT_EQ(layer->last_power_iterations(), 0);
  EXPECT_EQ(layer->lipschitz(), other->lipschitz());
}

TEST(CscConv2d, BuffersRoundTripThroughStateDict) {
  CscConv2d a(CscConv2dOptions(2, 4, 3).padding(1));
  a->forward(torch::randn({1, 2, 6, 6}));
  auto buffers = a->named_buffers();
  ASSERT_TRUE(buffers.contains("power_vector"));
  EXPECT_EQ(buffers["power_vector"].sizes(), (std::vector<int64_t>{1, 4, 6, 6}));
  EXPECT_GT(buffers["lipschitz"].item<double>(), 0);
}

// --precision bf16 on the CSC layer (util/precision.h): codes and gradients in
// fp32 within bf16's error of a float64 solve, the step size estimated in fp32.
namespace {
struct Solve {
  torch::Tensor codes, grad_x, grad_w;
};

// 10 FISTA steps of a 3→16 and a 16→16 layer (the few-signal-channel GEMM
// path and the convolution primitives), forward and backward.
Solve solve(int64_t in, torch::Dtype dtype, Precision p) {
  PrecisionGuard guard(p);
  torch::manual_seed(3);
  CscConv2d layer(CscConv2dOptions(in, 16, 3, CscOptions().steps(10).lambda(0.05).nonnegative(true))
                      .padding(1));
  layer->to(dtype);
  torch::manual_seed(4);
  // Drawn in float32 for every dtype: randn draws other numbers in float64.
  auto x = torch::randn({4, in, 12, 12}).to(dtype).requires_grad_();
  auto z = layer->forward(x);  // (4, 16, 12, 12)
  (z * z).sum().backward();
  return {z.detach(), x.grad(), layer->parameters().front().grad()};
}
}  // namespace

TEST(CscPrecision, Bf16CodesAndGradientsStayFp32WithinBf16ErrorOfFloat64) {
  for (int64_t in : {3, 16}) {
    const Solve ref = solve(in, torch::kDouble, Precision::kFp32);
    const Solve f32 = solve(in, torch::kFloat, Precision::kFp32);
    const Solve b16 = solve(in, torch::kFloat, Precision::kBf16);
    const Solve f64_under_bf16 = solve(in, torch::kDouble, Precision::kBf16);
    EXPECT_EQ(b16.codes.scalar_type(), torch::kFloat);
    EXPECT_EQ(b16.grad_x.scalar_type(), torch::kFloat);
    EXPECT_EQ(b16.grad_w.scalar_type(), torch::kFloat);
    EXPECT_LT(relative_error(f32.codes, ref.codes), 1e-5) << in;
    EXPECT_LT(relative_error(b16.codes, ref.codes), 3e-2) << in;
    EXPECT_GT(relative_error(b16.codes, ref.codes), 1e-4) << in << ": bf16 did not run";
    EXPECT_LT(relative_error(b16.grad_x, ref.grad_x), 5e-2) << in;
    EXPECT_LT(relative_error(b16.grad_w, ref.grad_w), 5e-2) << in;
    // float64 is never lowered.
    EXPECT_TRUE(torch::equal(f64_under_bf16.codes, ref.codes)) << in;
    EXPECT_TRUE(torch::equal(f64_under_bf16.grad_w, ref.grad_w)) << in;
  }
}

// Few signal channels in float32 solve on channels-last tensors (oneDNN's
// NHWC convolutions, the fused steps over that layout, a row-major upstream
// gradient brought into it); codes and both gradients are the float64
// row-major solve's, and the codes leave row-major.
TEST(CscConv2d, ChannelsLastSolveMatchesRowMajorFloat64) {
  CscConv2d probe(CscConv2dOptions(3, 16, 3).padding(1));
  EXPECT_TRUE(probe->solves_channels_last(torch::randn({4, 3, 12, 12})));
  EXPECT_FALSE(probe->solves_channels_last(torch::randn({4, 3, 12, 12}, f64)));
  CscConv2d one(CscConv2dOptions(1, 16, 3).padding(1));
  EXPECT_FALSE(one->solves_channels_last(torch::randn({4, 1, 12, 12})));
  CscConv2d wide(CscConv2dOptions(16, 16, 3).padding(1));
  EXPECT_FALSE(wide->solves_channels_last(torch::randn({4, 16, 12, 12})));  // 144 positions
  EXPECT_TRUE(wide->solves_channels_last(torch::randn({2, 16, 16, 16})));   // 256 positions

  const Solve ref = solve(3, torch::kDouble, Precision::kFp32);
  const Solve cl = solve(3, torch::kFloat, Precision::kFp32);
  EXPECT_TRUE(cl.codes.is_contiguous());
  EXPECT_GT(ref.codes.abs().max().item<double>(), 0.0);
  EXPECT_LT(relative_error(cl.codes, ref.codes), 1e-5);
  EXPECT_LT(relative_error(cl.grad_x, ref.grad_x), 1e-4);
  EXPECT_LT(relative_error(cl.grad_w, ref.grad_w), 1e-4);
  // The gradient reaching an inner (non-leaf) row-major input comes back
  // row-major: a channels-last gradient beside a row-major BatchNorm input
  // takes LibTorch's slow mixed-layout backward. (A leaf's .grad is copied
  // into the leaf's layout anyway, so the input here is a product and the
  // gradient is read by a hook as it arrives.)
  {
    auto leaf = torch::randn({4, 3, 12, 12}).requires_grad_();
    auto inner = leaf * 2.0;  // (4, 3, 12, 12), row-major, not a leaf
    torch::Tensor seen;
    inner.register_hook([&seen](torch::Tensor g) { seen = g; });
    ASSERT_TRUE(probe->solves_channels_last(inner));
    probe->forward(inner).pow(2).sum().backward();
    EXPECT_TRUE(seen.is_contiguous()) << seen.strides();
  }

  // Many channels on a large map: channels-last too, same codes and gradients.
  torch::manual_seed(6);
  CscConv2d layer(CscConv2dOptions(16, 8, 3, CscOptions().steps(5).lambda(0.05)).padding(1));
  torch::manual_seed(7);
  auto x32 = torch::randn({2, 16, 16, 16}).requires_grad_();
  ASSERT_TRUE(layer->solves_channels_last(x32));
  auto z32 = layer->forward(x32);  // (2, 8, 16, 16)
  EXPECT_TRUE(z32.is_contiguous());
  (z32 * z32).sum().backward();
  auto gw32 = layer->weight.grad().clone();
  layer->zero_grad();
  layer->to(torch::kDouble);
  auto x64 = x32.detach().to(torch::kDouble).requires_grad_();
  auto z64 = layer->forward(x64);  // (2, 8, 16, 16)
  (z64 * z64).sum().backward();
  EXPECT_LT(relative_error(z32.detach(), z64.detach()), 1e-5);
  EXPECT_LT(relative_error(x32.grad(), x64.grad()), 1e-4);
  EXPECT_LT(relative_error(gw32, layer->weight.grad()), 1e-4);

  // A channels-last input gets channels-last codes, as Conv2d's output takes
  // its input's layout: the same codes (a network run channels-last converts
  // nothing between layers; SdnetOptions::channels_last).
  layer->to(torch::kFloat);
  const auto nhwc = x32.detach().contiguous(at::MemoryFormat::ChannelsLast);
  auto zc = layer->forward(nhwc);  // (2, 8, 16, 16), channels-last
  EXPECT_TRUE(zc.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(zc.is_contiguous());
  EXPECT_LT(relative_error(zc.detach(), z32.detach()), 1e-6);
}

// The step size comes from an fp32 power iteration whatever the precision:
// a bf16 estimate could come out low and make FISTA diverge.
TEST(CscPrecision, PowerIterationRunsInFp32UnderBf16) {
  torch::manual_seed(5);
  auto w = torch::randn({16, 8, 3, 3});
  auto op = conv_operator(w, ConvGeometry{1, 1}, 12, 12);
  auto v32 = power_iteration_start({1, 16, 12, 12}, torch::TensorOptions().dtype(torch::kFloat));
  auto v16 = v32.clone();
  const auto a = power_iteration(op, v32, 30, 0.0);
  PrecisionGuard guard(Precision::kBf16);
  const auto b = power_iteration(op, v16, 30, 0.0);
  EXPECT_EQ(a.lipschitz, b.lipschitz);
  EXPECT_TRUE(torch::equal(v32, v16));
}
