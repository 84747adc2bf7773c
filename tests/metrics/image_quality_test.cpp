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
