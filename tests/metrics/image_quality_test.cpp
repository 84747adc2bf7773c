// metrics/image_quality.h against closed forms: PSNR of a known error, SSIM
// of identical and of constant-shifted images, and the baselines of issue 14.
#include <cmath>

#include <gtest/gtest.h>

#include "sparseloop/metrics/image_quality.h"

using namespace sparseloop;

TEST(ImageQuality, PsnrAndMseMatchTheirClosedForms) {
  auto ref = torch::zeros({2, 1, 8, 8});
  auto est = torch::full({2, 1, 8, 8}, 0.1);  // MSE 0.01 → PSNR 20 dB at peak 1
  EXPECT_NEAR(mse(est, ref), 0.01, 1e-7);
  EXPECT_NEAR(psnr(est, ref, 1.0), 20.0, 1e-4);
  est[1].fill_(0.01);  // second sample: MSE 1e-4 → 40 dB
  const auto per = psnr_per_sample(est, ref, 1.0);
  EXPECT_NEAR(per[0].item<double>(), 20.0, 1e-4);
  EXPECT_NEAR(per[1].item<double>(), 40.0, 1e-4);
}

TEST(ImageQuality, SsimIsOneForIdenticalImagesAndLowerForNoise) {
  torch::manual_seed(0);
  auto x = torch::rand({3, 3, 16, 16}) * 2 - 1;
  EXPECT_NEAR(ssim(x, x, 2.0), 1.0, 1e-6);
  EXPECT_LT(ssim(x + 0.5 * torch::randn_like(x), x, 2.0), 0.8);
}

// SSIM (Wang et al. 2004, eq. 13, 11×11 Gaussian window σ 1.5, valid windows)
// against the definition written independently: every window extracted
// (unfold) and weighted by the 2-D window outer(g, g), in float64.
TEST(ImageQuality, SsimEqualsTheWindowedDefinition) {
  torch::manual_seed(3);
  for (auto hw : {std::pair<int64_t, int64_t>{13, 12}, {32, 32}, {7, 9}}) {
    auto x = torch::rand({2, 3, hw.first, hw.second}, torch::kDouble) * 2 - 1;
    auto y = (x + 0.3 * torch::randn_like(x)).clamp(-1, 1);
    const int64_t win = std::min<int64_t>({11, hw.first, hw.second});
    auto c = torch::arange(win, torch::kDouble) - (win - 1) / 2.0;
    auto g = torch::exp(-c.pow(2) / (2 * 1.5 * 1.5));
    g = g / g.sum();
    auto w2 = torch::outer(g, g);  // (win, win)
    auto local = [&](const torch::Tensor& t) {  // (B, C, Ho, Wo)
      return (t.unfold(2, win, 1).unfold(3, win, 1) * w2).sum({4, 5});
    };
    const double c1 = std::pow(0.01 * 2.0, 2), c2 = std::pow(0.03 * 2.0, 2);
    auto mx = local(x), my = local(y);
    auto vx = local(x * x) - mx * mx, vy = local(y * y) - my * my, cxy = local(x * y) - mx * my;
    auto map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    auto expected = map.flatten(1).mean(1);  // (B,)
    auto got = ssim_per_sample(y, x, 2.0);
    EXPECT_LT((got - expected).abs().max().item<double>(), 1e-12) << hw.first << "x" << hw.second;
  }
}

TEST(ImageQuality, BaselinesKeepWhatTheyKnowOfTheImage) {
  torch::manual_seed(1);
  auto x = torch::rand({2, 3, 16, 16});
  const auto m = mean_colour_baseline(x);
  EXPECT_EQ(m.sizes(), x.sizes());
  EXPECT_TRUE(torch::allclose(m.mean({2, 3}), x.mean({2, 3}), 1e-6, 1e-6));
  EXPECT_NEAR(m.std({2, 3}).max().item<double>(), 0.0, 1e-6);  // flat
  // A thumbnail as large as the image is the image; smaller ones lose detail monotonically.
  EXPECT_TRUE(torch::allclose(thumbnail_baseline(x, 16), x, 1e-6, 1e-6));
  const double p2 = psnr(thumbnail_baseline(x, 2), x, 1.0), p8 = psnr(thumbnail_baseline(x, 8), x, 1.0);
  EXPECT_LT(psnr(m, x, 1.0), p8);
  EXPECT_LT(p2, p8);
  // An image that is smooth at the thumbnail's scale is kept nearly exactly.
  auto ramp = torch::linspace(0, 1, 16).view({1, 1, 1, 16}).expand({1, 1, 16, 16}).contiguous();
  EXPECT_GT(psnr(thumbnail_baseline(ramp, 8), ramp, 1.0), 35.0);
}
