#include "sparseloop/families/sdnet/model.h"

#include <gtest/gtest.h>

#include <map>

#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/precision.h"

using namespace sparseloop;

namespace {

int64_t parameter_count(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

/// L = ‖D‖² of a layer's current (normalized) dictionary by a long cold power
/// iteration, independent of the layer's own warm-started estimate.
double true_lipschitz(CscConv2dImpl& layer, int64_t h, int64_t w) {
  torch::NoGradGuard no_grad;
  auto dict = layer.dictionary().detach().to(torch::kDouble);
  const ConvGeometry g{layer.options.stride(), layer.options.padding()};
  auto op = conv_operator(dict, g, h, w);
  const int64_t k = layer.options.kernel_size();
  auto v = torch::randn({1, dict.size(0), conv_code_size(h, k, g), conv_code_size(w, k, g)},
                        torch::kDouble);
  return power_iteration(op, v, 2000, 1e-10).lipschitz;
}

}  // namespace

// The same BasicBlock code takes Conv2d or CscConv2d from its factory. With
// one FISTA step from zero, λ = 0 and signed codes, a CSC layer computes
// η·conv2d(x, Ŵ) (Ŵ: unit-norm atoms), so the CSC block must equal the conv
// block whose weights are η·Ŵ: the block does nothing conv-specific.
TEST(SdnetBlock, CscConv2dReplacesConv2dWithoutOtherChanges) {
  torch::manual_seed(0);
  const auto one_step = sdnet_csc_options().steps(1).lambda(0.0).nonnegative(false);
  for (auto [in, planes, stride] :
       std::vector<std::tuple<int64_t, int64_t, int64_t>>{{4, 4, 1}, {4, 6, 2}}) {
    auto opts = BasicBlockOptions(in, planes, stride);
    BasicBlock plain(opts, plain_conv_factory());
    BasicBlock csc(opts, csc_conv_factory(one_step));
    plain->to(torch::kDouble);
    csc->to(torch::kDouble);
    plain->eval();
    csc->eval();
    auto x = torch::randn({3, in, 9, 9}, torch::kDouble);
    auto y_csc = csc->forward(x);
    EXPECT_EQ(y_csc.sizes(), (std::vector<int64_t>{3, planes, (9 - 1) / stride + 1,
                                                   (9 - 1) / stride + 1}));
    {
      torch::NoGradGuard no_grad;
      auto c1 = csc->conv1.get<CscConv2d>();
      auto c2 = csc->conv2.get<CscConv2d>();
      plain->conv1.get<PlainConv2d>()->weight.copy_(c1->step() * c1->dictionary());
      plain->conv2.get<PlainConv2d>()->weight.copy_(c2->step() * c2->dictionary());
      if (csc->projection) {
        auto src = csc->projection->named_parameters();
        auto dst = plain->projection->named_parameters();
        for (const auto& p : src) dst[p.key()].copy_(p.value());
      }
    }
    auto y_plain = plain->forward(x);
    EXPECT_LT((y_plain - y_csc).abs().max().item<double>(), 1e-10);
    // And it trains: gradients reach both dictionaries.
    csc->train();
    csc->forward(x).pow(2).sum().backward();
    EXPECT_GT(csc->conv1.get<CscConv2d>()->weight.grad().abs().sum().item<double>(), 0.0);
    EXPECT_GT(csc->conv2.get<CscConv2d>()->weight.grad().abs().sum().item<double>(), 0.0);
  }
}

// Parameter counts of the well-known networks (kuangliu/pytorch-cifar ResNet18
// 11 173 962, ResNet34 21 282 122; torchvision resnet18 on ImageNet 11 689 512):
// a CSC layer has exactly the parameters of the conv it replaces.
TEST(Sdnet, ParameterCountsMatchTheReferenceResNets) {
  auto count = [](const std::string& name, int64_t classes, StemKind stem) {
    auto o = sdnet_options_for(name);
    o.num_classes = classes;
    o.stem = stem;
    Sdnet net(o);
    return parameter_count(*net);
  };
  EXPECT_EQ(count("resnet18", 10, StemKind::kCifar), 11173962);
  EXPECT_EQ(count("sdnet18", 10, StemKind::kCifar), 11173962);
  EXPECT_EQ(count("sdnet18-all", 10, StemKind::kCifar), 11173962);
  EXPECT_EQ(count("resnet34", 10, StemKind::kCifar), 21282122);
  EXPECT_EQ(count("sdnet34", 10, StemKind::kCifar), 21282122);
  EXPECT_EQ(count("resnet18", 1000, StemKind::kImagenet), 11689512);
  // -all ImageNet stem: one more 64→64 3×3 CSC layer in place of the max-pool.
  EXPECT_EQ(count("sdnet18-all", 1000, StemKind::kImagenet), 11689512 + 64 * 64 * 9);
}

TEST(Sdnet, ShapesLayersAndNamesForEveryModel) {
  torch::manual_seed(1);
  struct Case {
    std::string name;
    size_t csc_cifar, csc_imagenet;
  };
  for (const auto& c : std::vector<Case>{{"resnet18", 0, 0},
                                          {"resnet34", 0, 0},
                                          {"sdnet18", 1, 1},
                                          {"sdnet34", 1, 1},
                                          {"sdnet18-all", 17, 18},
                                          {"sdnet34-all", 33, 34}}) {
    for (auto stem : {StemKind::kCifar, StemKind::kImagenet}) {
      auto o = sdnet_options_for(c.name);
      o.width = 4;
      o.in_channels = c.name.back() == '8' ? 1 : 5;  // any channel count
      o.num_classes = 7;
      o.stem = stem;
      Sdnet net(o);
      net->eval();
      const int64_t size = stem == StemKind::kCifar ? 16 : 64;
      auto out = net->forward_with_residual(torch::rand({2, o.in_channels, size, size}));
      EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 7})) << c.name;
      EXPECT_EQ(net->csc_layers().size(), stem == StemKind::kCifar ? c.csc_cifar : c.csc_imagenet)
          << c.name << " " << to_string(stem);
      EXPECT_EQ(static_cast<bool>(net->stem_csc()), c.csc_cifar > 0);
      EXPECT_EQ(out.residual.defined(), c.csc_cifar > 0);
      if (out.residual.defined()) {
        EXPECT_EQ(out.residual.sizes(), (std::vector<int64_t>{2}));
      }
    }
  }
  EXPECT_THROW(sdnet_options_for("sdnet50"), InputError);
  EXPECT_THROW(parse_stem("tiny"), InputError);
}

// The -all block without shortcut: conv-BN-conv-BN and nothing else
// (authors' sdnet_inverse.py), so its output can be negative.
TEST(Sdnet, AllWithoutShortcutHasNoProjectionAndNoFinalRelu) {
  torch::manual_seed(2);
  auto o = sdnet_options_for("sdnet18-all");
  o.width = 4;
  o.shortcut = false;
  Sdnet net(o);
  for (const auto& m : net->modules(false)) {
    if (auto b = std::dynamic_pointer_cast<BasicBlockImpl>(m)) {
      EXPECT_FALSE(b->projection);
      EXPECT_FALSE(b->options.relu_between());
      EXPECT_FALSE(b->options.relu_out());
      auto y = b->forward(torch::randn({2, b->options.in_planes(), 8, 8}));
      EXPECT_LT(y.min().item<double>(), 0.0);
      break;
    }
  }
  auto with = sdnet_options_for("sdnet18-all");
  with.width = 4;
  Sdnet net2(with);
  EXPECT_GT(parameter_count(*net2), parameter_count(*net));  // the 1×1 projections
}

// Raising the stem's λ at test time makes its codes sparser and its
// reconstruction residual larger, and changes the prediction input.
TEST(Sdnet, TestTimeLambdaMakesStemCodesSparser) {
  torch::manual_seed(3);
  auto o = sdnet_options_for("sdnet18");
  o.width = 8;
  Sdnet net(o);
  net->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({4, 3, 16, 16});
  double prev_zeros = -1, prev_res = -1;
  torch::Tensor prev_logits;
  for (double lambda : {0.05, 0.1, 0.3, 0.6, 1.0}) {
    net->set_stem_lambda(lambda);
    auto z = net->stem_csc()->forward(x);
    const double zeros = (z == 0).to(torch::kDouble).mean().item<double>();
    auto out = net->forward_with_residual(x);
    const double res = out.residual.mean().item<double>();
    EXPECT_GT(zeros, prev_zeros) << "λ " << lambda;
    EXPECT_GT(res, prev_res) << "λ " << lambda;
    if (prev_logits.defined()) {
      EXPECT_GT((out.logits - prev_logits).abs().max().item<double>(), 0.0);
    }
    prev_zeros = zeros;
    prev_res = res;
    prev_logits = out.logits;
  }
  // Independent check of the residual: ‖x − D z‖² per image, D through
  // conv_transpose2d (the reference synthesis).
  auto z = net->stem_csc()->forward(x);
  auto xhat = conv_synthesis_reference(z, net->stem_csc()->dictionary(), ConvGeometry{1, 1}, 16, 16);
  auto expected = (x - xhat).pow(2).sum({1, 2, 3});
  auto got = net->forward_with_residual(x).residual;
  EXPECT_LT(((got - expected).abs() / expected).max().item<double>(), 1e-4);
}

TEST(Sdnet, ProjectAtomsMakesUnitNormAtoms) {
  torch::manual_seed(4);
  auto o = sdnet_options_for("sdnet18-all");
  o.width = 4;
  Sdnet net(o);
  for (auto& l : net->csc_layers()) {
    torch::NoGradGuard g;
    l->weight.mul_(3.0);
  }
  net->project_atoms();
  for (auto& l : net->csc_layers()) {
    auto norms = l->weight.pow(2).sum({1, 2, 3}).sqrt();
    EXPECT_LT((norms - 1).abs().max().item<double>(), 1e-5);
  }
}

// The cheaper step policy: L is re-estimated only when the dictionary
// changed (every training step, never in evaluation), warm-started and
// stopped once the estimate settles (relative change < 1e-3), with a cold
// restart for a layer whose dictionary moved by > 5 % in one step. At the
// paper's learning rate on a tiny SDNet-18-all fitting random labels (the
// dictionaries move far more per step than in real training) it keeps
// η = 0.9/L̂ ≤ 1/L for every CSC layer; in evaluation it runs no power
// iteration at all.
TEST(Sdnet, CheapStepPolicyNeverExceedsOneOverL) {
  torch::manual_seed(5);
  auto o = sdnet_options_for("sdnet18-all");
  o.width = 4;
  o.num_classes = 3;
  ASSERT_EQ(o.csc.step_refresh(), StepRefresh::kOnChange);
  ASSERT_EQ(o.csc.restart_threshold(), 0.05);
  Sdnet net(o);
  torch::optim::SGD opt(net->parameters(),
                        torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(5e-4));
  auto x = torch::randn({16, 3, 16, 16});
  auto y = torch::randint(0, 3, {16}, torch::kLong);
  // Input size of every CSC layer (CIFAR stem: 16, then 16, 8, 4, 2 per stage).
  auto layers = net->csc_layers();
  std::vector<int64_t> sizes{16};
  for (int64_t s = 0; s < 4; ++s)
    for (int64_t b = 0; b < 2; ++b) {
      sizes.push_back(s == 0 || b > 0 ? (16 >> s) : (16 >> (s - 1)));  // conv1 (stride 2 first)
      sizes.push_back(16 >> s);                                          // conv2
    }
  ASSERT_EQ(sizes.size(), layers.size());
  double worst = 0;
  int64_t restarts = 0;
  for (int it = 0; it < 6; ++it) {
    net->train();
    auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    for (const auto& l : layers) restarts += l->last_power_iterations() > 0 && l->last_cold_restart();
    auto recorded = net->csc_input_sizes();
    double worst_now = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      ASSERT_EQ(recorded[i][0], sizes[i]);
      const double L = true_lipschitz(*layers[i], sizes[i], sizes[i]);
      worst_now = std::max(worst_now, layers[i]->step() * L);
      EXPECT_LE(layers[i]->step(), 1.0 / L) << "layer " << i << " step " << it;
    }
    worst = std::max(worst, worst_now);
    if (it == 2) {
      EXPECT_NEAR(net->max_step_times_lipschitz(), worst_now, 1e-3 * worst_now);
    }
    opt.zero_grad();
    loss.backward();
    opt.step();
    net->project_atoms();
  }
  EXPECT_GT(worst, 0.85);   // the step stays close to 0.9/L, not needlessly small
  EXPECT_GT(restarts, static_cast<int64_t>(layers.size()));  // beyond the first cold start:
  // this stress test does move dictionaries by > 5 % in a step
  // Evaluation: L is not re-estimated while the dictionary does not change.
  net->eval();
  torch::NoGradGuard no_grad;
  net->forward(x);
  std::vector<double> before;
  for (auto& l : layers) before.push_back(l->lipschitz());
  net->forward(x);
  net->forward(torch::randn({2, 3, 16, 16}));
  for (size_t i = 0; i < layers.size(); ++i) {
    EXPECT_EQ(layers[i]->lipschitz(), before[i]);
    EXPECT_EQ(layers[i]->last_power_iterations(), 0);
  }
}

// A dictionary that jumps makes its layer start cold (many iterations); one
// that stays put costs nothing more in training than a few warm iterations;
// the layer decides both by itself, from its own buffers.
TEST(Sdnet, LargeDictionaryMovesRestartThePowerIteration) {
  torch::manual_seed(6);
  auto o = sdnet_options_for("sdnet18");
  o.width = 8;
  Sdnet net(o);
  auto x = torch::randn({2, 3, 16, 16});
  net->forward(x);
  auto stem = net->stem_csc();
  EXPECT_TRUE(stem->last_cold_restart());  // the first estimate
  net->project_atoms();
  net->forward(x);  // the projection alone barely moves the dictionary as used
  EXPECT_FALSE(stem->last_power_iterations() > 0 && stem->last_cold_restart());
  {
    torch::NoGradGuard g;
    stem->weight.add_(0.5 * torch::randn_like(stem->weight));
  }
  net->forward(x);
  EXPECT_TRUE(stem->last_cold_restart());                 // a large move
  EXPECT_GT(stem->last_power_iterations(), 10);
  {
    torch::NoGradGuard g;
    stem->weight.add_(1e-4 * torch::randn_like(stem->weight));
  }
  net->forward(x);
  const int64_t warm = stem->last_power_iterations();
  EXPECT_FALSE(stem->last_cold_restart());
  EXPECT_GE(warm, 1);
  EXPECT_LE(warm, 5);
  EXPECT_TRUE(stem->lipschitz_current());
}

// --precision (util/precision.h) reaches the plain convolutions: in fp32 a
// PlainConv2d is exactly nn::Conv2d with the same weights (and names, so
// checkpoints are unchanged); in bf16 every model's logits stay fp32 and
// within bf16's error of its fp32 logits.
TEST(Sdnet, PlainConvolutionsFollowThePrecision) {
  torch::manual_seed(2);
  PlainConv2d plain(ConvSpec{3, 8, 3, 2, 1});
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3).stride(2).padding(1).bias(false));
  {
    torch::NoGradGuard no_grad;
    conv->weight.copy_(plain->weight);
  }
  auto x = torch::randn({2, 3, 9, 9});
  EXPECT_TRUE(torch::equal(plain->forward(x), conv->forward(x)));
  EXPECT_EQ(plain->named_parameters().keys(), conv->named_parameters().keys());
  for (const std::string name : {"resnet18", "sdnet18", "sdnet18-all"}) {
    auto o = sdnet_options_for(name);
    o.width = 8;
    o.in_channels = 3;
    o.num_classes = 5;
    torch::manual_seed(7);
    Sdnet net(o);
    net->eval();
    auto images = torch::rand({4, 3, 16, 16});
    torch::Tensor fp32, bf16;
    {
      torch::NoGradGuard no_grad;
      fp32 = net->forward(images);
      PrecisionGuard guard(Precision::kBf16);
      bf16 = net->forward(images);
    }
    EXPECT_EQ(bf16.scalar_type(), torch::kFloat) << name;
    const double rel = ((bf16 - fp32).norm() / fp32.norm()).item<double>();
    EXPECT_LT(rel, 5e-2) << name;
    EXPECT_GT(rel, 1e-5) << name << ": bf16 did not run";
  }
}

// Channels-last on the CPU (SdnetOptions::channels_last, the default): the
// same logits and gradients as the row-major network in float64 (to 1e-10:
// the layout plumbing, BatchNorm's channels-last kernel, the row-major solve
// of small maps inside a channels-last network), for an RGB and a
// one-channel stem and every kind of block. In float32 (channels-last solves,
// oneDNN's NHWC convolutions) the logits agree to 1e-4; the gradients only to
// a few per cent: one ReLU input within float rounding of 0 (2e-7 in
// sdnet18, RGB) falls on the other side of the kink in one layout, and its
// channel's BatchNorm spreads that one gradient entry over the channel.
TEST(Sdnet, ChannelsLastEqualsRowMajor) {
  for (const std::string model : {"sdnet18-all", "sdnet18", "resnet18"}) {
    for (int64_t channels : {3, 1}) {
      std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> out;  // logits, gradient
      for (auto dtype : {torch::kDouble, torch::kFloat}) {
        for (bool channels_last : {true, false}) {
          SdnetOptions o = sdnet_options_for(model);
          o.width = 4;
          o.in_channels = channels;
          o.channels_last = channels_last;
          torch::manual_seed(1);
          Sdnet net(o);
          net->to(dtype);
          torch::manual_seed(2);
          auto x = torch::randn({6, channels, 16, 16}).to(dtype);  // (6, M, 16, 16), row-major
          auto y = torch::randint(0, 10, {6}, torch::kLong);
          auto logits = net->forward(x);  // (6, 10)
          torch::nn::functional::cross_entropy(logits, y).backward();
          std::vector<torch::Tensor> g;
          for (const auto& p : net->parameters())
            g.push_back(p.grad().defined() ? p.grad().flatten()
                                           : torch::zeros({p.numel()}, p.options()));
          out[std::string(dtype == torch::kDouble ? "double" : "float") +
              (channels_last ? " cl" : " rm")] = {logits.detach().to(torch::kDouble),
                                                  torch::cat(g).to(torch::kDouble)};
        }
      }
      const std::string where = model + " M " + std::to_string(channels);
      auto rel = [](const torch::Tensor& a, const torch::Tensor& b) {
        return ((a - b).norm() / b.norm()).item<double>();
      };
      const auto& ref = out["double rm"];
      EXPECT_LT(rel(out["double cl"].first, ref.first), 1e-10) << where;
      EXPECT_LT(rel(out["double cl"].second, ref.second), 1e-10) << where;
      EXPECT_LT(rel(out["float cl"].first, ref.first), 1e-4) << where;
      EXPECT_LT(rel(out["float cl"].second, ref.second), 5e-2) << where;
    }
  }
  // The layers keep the layout they are given.
  SdnetOptions o = sdnet_options_for("sdnet18-all");
  o.width = 4;
  Sdnet net(o);
  const auto cl = at::MemoryFormat::ChannelsLast;
  auto codes = net->csc_layers()[0]->forward(torch::randn({2, 3, 16, 16}).contiguous(cl));
  EXPECT_TRUE(codes.is_contiguous(cl));
  EXPECT_TRUE(net->csc_layers()[1]->forward(codes).is_contiguous(cl));
  // A small map solved row-major inside a channels-last network (layer2.0.conv2, 8 → 8).
  auto& layer = *net->csc_layers()[6];
  auto small = torch::randn({2, 8, 4, 4}).contiguous(cl);
  ASSERT_FALSE(layer.solves_channels_last(small));
  EXPECT_TRUE(layer.forward(small).is_contiguous(cl));
  EXPECT_TRUE(layer.forward(small.contiguous()).is_contiguous());
}
