// The closed-loop game's gradient routing (docs/design.md §5.2),
// checked against independent constructions with untied copies of the model:
// the gradient a player gives a shared dictionary must equal the sum of the
// gradients of exactly the uses that player differentiates.
#include "sparseloop/families/ctrl/game.h"

#include <gtest/gtest.h>

#include "sparseloop/families/ctrl/rate_reduction.h"

using namespace sparseloop;

namespace {

CscCtrlOptions tiny() {
  return CscCtrlOptions().channels(1).image_size(32).width(4).csc(
      ctrl_csc_options().lambda(0.01).steps(2));
}

std::shared_ptr<CscCtrlImpl> copy_of(const CscCtrlImpl& src) {
  // kFixed: the copies keep the original's L (copied with the buffers).
  auto dst = std::make_shared<CscCtrlImpl>(CscCtrlOptions(src.options).csc(
      CscOptions(src.options.csc()).step_refresh(StepRefresh::kFixed)));
  torch::NoGradGuard g;
  auto sp = src.named_parameters(), dp = dst->named_parameters();
  for (auto& p : sp) dp[p.key()].copy_(p.value());
  auto sb = src.named_buffers(), db = dst->named_buffers();
  for (auto& b : sb) db[b.key()].resize_(b.value().sizes()).copy_(b.value());
  dst->to(src.layers[0]->weight.scalar_type());
  return dst;
}

std::vector<torch::Tensor> dict_grads(CscCtrlImpl& m) {
  std::vector<torch::Tensor> out;
  for (auto& l : m.layers)
    out.push_back(l->weight.grad().defined() ? l->weight.grad().clone()
                                             : torch::zeros_like(l->weight));
  return out;
}

double max_rel_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double scale = std::max(b[i].abs().max().item<double>(), 1e-12);
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>() / scale);
  }
  return worst;
}

struct Fixture {
  std::shared_ptr<CscCtrlImpl> model;
  torch::Tensor x, y;
  Fixture() {
    torch::manual_seed(0);
    model = std::make_shared<CscCtrlImpl>(tiny());
    model->to(torch::kDouble);
    model->train();
    x = torch::rand({12, 1, 32, 32}, torch::kDouble) * 2 - 1;
    y = torch::arange(12, torch::kLong) % 3;
    // One forward fixes every layer's L, so the copies see the same steps.
    torch::NoGradGuard g;
    model->encode(model->decode(model->encode(x)));
  }
  ClosedLoopTerms objective(const torch::Tensor& z, const torch::Tensor& zh) {
    return closed_loop_objective(z, zh, y, 3);
  }
};

}  // namespace

TEST(CtrlModel, DecoderUsesTheEncoderDictionaryTensors) {
  CscCtrl model(tiny());
  // One parameter per dictionary, used by both players.
  auto shared = model->shared_parameters();
  ASSERT_EQ(shared.size(), 4u);
  auto enc = model->encoder_parameters(), dec = model->decoder_parameters();
  for (auto& s : shared) {
    auto same = [&](const torch::Tensor& t) { return t.is_same(s); };
    EXPECT_TRUE(std::any_of(enc.begin(), enc.end(), same));
    EXPECT_TRUE(std::any_of(dec.begin(), dec.end(), same));
  }
  // The decoder's output depends on the dictionaries: its gradient reaches them.
  auto z = torch::randn({3, model->feature_dim()});
  z = z / z.norm(2, 1, true);
  model->decode(z).sum().backward();
  for (auto& s : shared) EXPECT_GT(s.grad().abs().sum().item<double>(), 0);
  EXPECT_EQ(model->decode(z).sizes(), (std::vector<int64_t>{3, 1, 32, 32}));
  // No other dictionary-shaped parameter exists (no hidden copy).
  int64_t four_d = 0;
  for (auto& p : model->parameters()) four_d += p.dim() == 4;
  EXPECT_EQ(four_d, 4);
}

TEST(CtrlGame, Strategy2AscentDifferentiatesOnlyTheEncoderUses) {
  Fixture f;
  ClosedLoopGame game(f.model, GameOptions().strategy(2).class_conditional(true).num_classes(3));
  auto e1 = copy_of(*f.model), d = copy_of(*f.model), e2 = copy_of(*f.model);
  // Reference: Z through e1, X̂ through d (its own, untouched copy), Ẑ = e2(X̂ constant).
  auto z = e1->encode(f.x);
  auto xh = d->decode(z).detach();
  auto zh = e2->encode(xh);
  f.objective(z, zh).objective.backward();
  auto ref = dict_grads(*e1);
  auto g2 = dict_grads(*e2);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] += g2[i];
  for (auto& g : dict_grads(*d)) EXPECT_EQ(g.abs().sum().item<double>(), 0.0);
  game.ascent_objective(f.x, f.y).objective.backward();
  EXPECT_LT(max_rel_diff(dict_grads(*f.model), ref), 1e-8);
}

TEST(CtrlGame, Strategy2DescentTakesTheTotalDerivative) {
  Fixture f;
  ClosedLoopGame game(f.model, GameOptions().strategy(2).class_conditional(true).num_classes(3));
  auto e1 = copy_of(*f.model), d = copy_of(*f.model), e2 = copy_of(*f.model);
  auto z = e1->encode(f.x);
  auto zh = e2->encode(d->decode(z));
  f.objective(z, zh).objective.backward();
  auto ref = dict_grads(*e1);
  auto gd = dict_grads(*d), g2 = dict_grads(*e2);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] += gd[i] + g2[i];
  game.descent_objective(f.x, f.y).objective.backward();
  EXPECT_LT(max_rel_diff(dict_grads(*f.model), ref), 1e-8);
  // Each of the three uses contributes: the sum is not just the decoder's part.
  EXPECT_GT(max_rel_diff(gd, ref), 1e-3);
}

TEST(CtrlGame, Strategy1DescentDifferentiatesOnlyTheDecoderUse) {
  Fixture f;
  ClosedLoopGame game(f.model, GameOptions().strategy(1).class_conditional(true).num_classes(3));
  auto e1 = copy_of(*f.model), d = copy_of(*f.model), e2 = copy_of(*f.model);
  for (auto& p : e2->parameters()) p.requires_grad_(false);  // frozen encoder on X̂
  torch::Tensor z;
  {
    torch::NoGradGuard g;
    z = e1->encode(f.x);
  }
  auto zh = e2->encode(d->decode(z));
  f.objective(z, zh).objective.backward();
  auto ref = dict_grads(*d);
  game.descent_objective(f.x, f.y).objective.backward();
  EXPECT_LT(max_rel_diff(dict_grads(*f.model), ref), 1e-8);
}

// A few rounds on one batch: the ascent raises T, the descent lowers it.
TEST(CtrlGame, AscentRaisesAndDescentLowersTheObjective) {
  torch::manual_seed(1);
  auto model = std::make_shared<CscCtrlImpl>(tiny());
  model->to(torch::kDouble);
  model->train();
  auto x = torch::rand({16, 1, 32, 32}, torch::kDouble) * 2 - 1;
  ClosedLoopGame game(model, GameOptions().lr(5e-3).beta1(0.0));
  auto measure = [&] {
    torch::NoGradGuard g;
    auto z = model->encode(x);
    return rate_reduction(z, model->encode(model->decode(z))).item<double>();
  };
  int ascent_up = 0, descent_down = 0;
  for (int round = 0; round < 4; ++round) {
    const double before = measure();
    game.encoder_optimizer().zero_grad();
    (-game.ascent_objective(x, {}).objective).backward();
    game.encoder_optimizer().step();
    const double after_ascent = measure();
    game.decoder_optimizer().zero_grad();
    game.descent_objective(x, {}).objective.backward();
    game.decoder_optimizer().step();
    const double after_descent = measure();
    ascent_up += after_ascent > before;
    descent_down += after_descent < after_ascent;
  }
  EXPECT_GE(ascent_up, 3);
  EXPECT_GE(descent_down, 3);
}

// encoder_lr_ratio: Adam's first step moves each element by lr·sign(g) (β1 = 0,
// bias-corrected), so the largest move of a shared dictionary measures each
// player's learning rate: lr × ratio for the encoder, lr for the decoder, and
// set_lr keeps the ratio.
TEST(CtrlGame, EncoderLearningRateIsTheRatioTimesTheDecoders) {
  torch::manual_seed(2);
  auto model = std::make_shared<CscCtrlImpl>(tiny());
  model->to(torch::kDouble);
  model->train();
  auto x = torch::rand({16, 1, 32, 32}, torch::kDouble) * 2 - 1;
  ClosedLoopGame game(model, GameOptions().lr(1e-3).encoder_lr_ratio(0.25).beta1(0.0));
  auto& w = model->layers[1]->weight;
  auto largest_move = [&](torch::optim::Adam& opt, bool ascent) {
    auto before = w.detach().clone();
    opt.zero_grad();
    if (ascent) {
      (-game.ascent_objective(x, {}).objective).backward();
    } else {
      game.descent_objective(x, {}).objective.backward();
    }
    opt.step();
    return (w.detach() - before).abs().max().item<double>();
  };
  EXPECT_NEAR(largest_move(game.encoder_optimizer(), true), 0.25e-3, 1e-9);
  EXPECT_NEAR(largest_move(game.decoder_optimizer(), false), 1e-3, 1e-9);
  game.set_lr(2e-3);
  auto lr_of = [](torch::optim::Adam& opt) {
    return static_cast<torch::optim::AdamOptions&>(opt.param_groups()[0].options()).lr();
  };
  EXPECT_DOUBLE_EQ(lr_of(game.encoder_optimizer()), 0.5e-3);
  EXPECT_DOUBLE_EQ(lr_of(game.decoder_optimizer()), 2e-3);
  EXPECT_THROW(ClosedLoopGame(model, GameOptions().encoder_lr_ratio(0.0)), c10::Error);
}

TEST(CtrlModel, CtrlBaselineShapesAndSeparatePlayers) {
  Ctrl model(CtrlOptions().channels(3).width(8).latent(16));
  auto x = torch::rand({4, 3, 32, 32}) * 2 - 1;
  auto z = model->encode(x);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{4, 16}));
  EXPECT_NEAR(z.norm(2, 1).mean().item<double>(), 1.0, 1e-5);
  EXPECT_EQ(model->decode(z).sizes(), x.sizes());
  EXPECT_TRUE(model->shared_parameters().empty());
  EXPECT_LE(model->decode(z).abs().max().item<double>(), 1.0);
}

TEST(CtrlModel, SixtyFourPixelVariantRoundTripsShapes) {
  CscCtrl model(CscCtrlOptions().channels(3).image_size(64).width(4));
  auto x = torch::rand({2, 3, 64, 64}) * 2 - 1;
  auto z = model->encode(x);
  EXPECT_EQ(z.size(1), 64);  // 16 × width
  EXPECT_EQ(model->decode(z).sizes(), x.sizes());
}
