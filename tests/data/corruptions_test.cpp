#include "sparseloop/data/corruptions.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "sparseloop/util/error.h"

using namespace sparseloop;

namespace {

torch::Generator seeded(uint64_t seed) {
  auto g = at::detail::createCPUGenerator(seed);
  return g;
}

/// A constant grey image batch (enough elements for tight statistics).
torch::Tensor grey(double v) {
  return torch::full({4, 3, 50, 50}, v, torch::kFloat);  // 30 000 elements
}

double avg(const torch::Tensor& t) { return t.to(torch::kDouble).mean().item<double>(); }
double sd(const torch::Tensor& t) { return t.to(torch::kDouble).std().item<double>(); }

}  // namespace

TEST(Corruptions, LevelsOfTheAuthorsScript) {
  auto g = sdnet_corruption_levels(Corruption::kGaussian);
  ASSERT_EQ(g.size(), 10u);
  EXPECT_NEAR(g.front(), 0.02, 1e-12);
  EXPECT_NEAR(g.back(), 0.20, 1e-12);
  auto s = sdnet_corruption_levels(Corruption::kShot);
  EXPECT_EQ(s, (std::vector<double>{60, 54, 48, 42, 36, 30, 24, 18, 12, 6}));
  auto sp = sdnet_corruption_levels(Corruption::kSpeckle);
  ASSERT_EQ(sp.size(), 6u);
  EXPECT_NEAR(sp.back(), 0.6, 1e-12);
  auto im = sdnet_corruption_levels(Corruption::kImpulse);
  ASSERT_EQ(im.size(), 10u);  // 0.30000000000000004 is included, as with np.arange
  EXPECT_NEAR(im.back(), 0.30, 1e-12);
  EXPECT_EQ(cifar10c_levels(Corruption::kShot), (std::vector<double>{500, 250, 100, 75, 50}));
  EXPECT_EQ(cifar10c_name(Corruption::kImpulse), "impulse_noise");
  EXPECT_EQ(parse_corruption("speckle_noise"), Corruption::kSpeckle);
  EXPECT_THROW(parse_corruption("blur"), InputError);
}

// Unquantized: the moments of each formula on a constant image.
TEST(Corruptions, StatisticsOfFloatImages) {
  auto gen = seeded(1);
  const double x = 0.5;
  // gaussian: x + N(0, σ²), σ = 0.1 (5σ from the clip bounds).
  auto g = corrupt_images(grey(x), Corruption::kGaussian, 0.1, gen, false);
  EXPECT_NEAR(avg(g), x, 0.003);
  EXPECT_NEAR(sd(g), 0.1, 0.003);
  // shot: Poisson(c·x)/c, mean x, variance x/c.
  auto s = corrupt_images(grey(x), Corruption::kShot, 60, gen, false);
  EXPECT_NEAR(avg(s), x, 0.003);
  EXPECT_NEAR(sd(s), std::sqrt(x / 60), 0.003);
  // Poisson values: c·y is a whole number.
  EXPECT_LT(((s * 60) - (s * 60).round()).abs().max().item<double>(), 1e-4);
  // speckle: x(1 + N(0, σ²)), mean x, std xσ.
  auto sp = corrupt_images(grey(x), Corruption::kSpeckle, 0.2, gen, false);
  EXPECT_NEAR(avg(sp), x, 0.003);
  EXPECT_NEAR(sd(sp), x * 0.2, 0.003);
  // impulse: a fraction c of the elements, half to 1 and half to 0; the rest untouched.
  auto im = corrupt_images(grey(x), Corruption::kImpulse, 0.2, gen, false);
  const double ones = avg(im == 1.0), zeros = avg(im == 0.0), same = avg(im == x);
  EXPECT_NEAR(ones, 0.1, 0.006);
  EXPECT_NEAR(zeros, 0.1, 0.006);
  EXPECT_NEAR(ones + zeros + same, 1.0, 1e-12);
  // Every channel is hit independently (skimage's per-element noise).
  auto hit = (im != x).to(torch::kDouble);  // (4, 3, 50, 50)
  const double all3 = hit.prod(1).mean().item<double>();
  EXPECT_NEAR(all3, 0.2 * 0.2 * 0.2, 0.004);
}

// Quantized as the authors' uint8 cast: clip, ×255, truncate, ÷255.
TEST(Corruptions, Uint8TruncationAndClipping) {
  auto gen = seeded(2);
  auto x = torch::rand({2, 3, 16, 16});
  for (auto c : {Corruption::kGaussian, Corruption::kShot, Corruption::kSpeckle,
                 Corruption::kImpulse}) {
    const double level = c == Corruption::kShot ? 6 : 0.3;
    auto y = corrupt_images(x, c, level, gen, true);
    EXPECT_EQ(y.sizes(), x.sizes());
    EXPECT_EQ(y.dtype(), x.dtype());
    EXPECT_GE(y.min().item<double>(), 0.0);
    EXPECT_LE(y.max().item<double>(), 1.0);
    auto scaled = y.to(torch::kDouble) * 255.0;
    EXPECT_LT((scaled - scaled.round()).abs().max().item<double>(), 1e-4) << to_string(c);
  }
  // Truncation, not rounding: noise-free gaussian noise maps v to floor(255 v)/255.
  auto v = torch::tensor({0.0, 0.2, 0.5, 0.999, 1.0}, torch::kDouble).view({1, 1, 1, 5});
  auto q = corrupt_images(v, Corruption::kGaussian, 0.0, gen, true);
  auto expected = torch::floor(v * 255.0) / 255.0;
  EXPECT_TRUE(torch::allclose(q, expected, 0, 1e-12));
  // Quantized gaussian noise: the truncation lowers the mean by ≈ ½/255.
  auto gq = corrupt_images(grey(0.5), Corruption::kGaussian, 0.1, gen, true);
  EXPECT_NEAR(avg(gq), 0.5 - 0.5 / 255.0, 0.003);
  // Heavy noise clips at both ends.
  auto heavy = corrupt_images(grey(0.5), Corruption::kGaussian, 2.0, gen, true);
  EXPECT_GT(avg(heavy == 0.0), 0.3);
  EXPECT_GT(avg(heavy == 1.0), 0.3);
}

TEST(Corruptions, SeededAndLevelChecked) {
  auto x = torch::rand({1, 1, 8, 8});
  auto g1 = seeded(7), g2 = seeded(7), g3 = seeded(8);
  auto a = corrupt_images(x, Corruption::kShot, 30, g1);
  auto b = corrupt_images(x, Corruption::kShot, 30, g2);
  auto c = corrupt_images(x, Corruption::kShot, 30, g3);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_THROW(corrupt_images(x, Corruption::kShot, 0, g1), InputError);
  EXPECT_THROW(corrupt_images(x, Corruption::kGaussian, -0.1, g1), InputError);
  EXPECT_THROW(corrupt_images(x, Corruption::kImpulse, 1.5, g1), InputError);
  // Smaller c is noisier for shot noise.
  auto lo = corrupt_images(grey(0.5), Corruption::kShot, 6, g1, false);
  auto hi = corrupt_images(grey(0.5), Corruption::kShot, 60, g1, false);
  EXPECT_GT(sd(lo), 2 * sd(hi));
}
