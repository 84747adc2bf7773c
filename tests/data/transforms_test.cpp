#include <set>

#include <gtest/gtest.h>

#include "sparseloop/data/transforms.h"
#include "sparseloop/util/random.h"

using namespace sparseloop;

TEST(Transforms, PadMnistTo32AndCenterCropBack) {
  auto x = torch::rand({2, 1, 28, 28});
  auto p = pad_images(x, 2);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{2, 1, 32, 32}));
  EXPECT_EQ(p.narrow(2, 0, 2).abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(p.narrow(3, 30, 2).abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(center_crop(p, 28, 28), x));
  EXPECT_EQ(pad_images(x, 1, -1.0)[0][0][0][0].item<float>(), -1.0f);
  // Odd margins: the extra row/column goes to the bottom/right.
  auto r = torch::arange(25, torch::kFloat).reshape({1, 1, 5, 5});
  auto c = center_crop(r, 2, 2);
  EXPECT_EQ(c[0][0][0][0].item<float>(), 6.0f);  // row 1, column 1
  EXPECT_THROW(center_crop(r, 6, 2), c10::Error);
}

TEST(Transforms, ResizeIsBilinearWithoutAlignedCorners) {
  // Upsampling [0, 1] by 2 with align_corners = false: samples at -0.25,
  // 0.25, 0.75, 1.25 → clamped 0, 0.25, 0.75, 1.
  auto x = torch::tensor({0.0f, 1.0f}).reshape({1, 1, 1, 2});
  auto y = resize_images(x, 1, 4);
  EXPECT_TRUE(torch::allclose(y.flatten(), torch::tensor({0.0f, 0.25f, 0.75f, 1.0f})));
  auto u = torch::full({2, 3, 8, 8}, 200, torch::kUInt8);
  auto v = resize_images_u8(u, 3, 5, 1);
  EXPECT_EQ(v.sizes(), (std::vector<int64_t>{2, 3, 3, 5}));
  EXPECT_TRUE(torch::equal(v, torch::full({2, 3, 3, 5}, 200, torch::kUInt8)));
}

TEST(Transforms, RandomCropAndFlipAreReproducibleAndRandom) {
  auto x = torch::rand({16, 3, 8, 8});
  auto g1 = make_generator(1, 0), g2 = make_generator(1, 0), g3 = make_generator(2, 0);
  auto a = random_crop(x, 4, g1), b = random_crop(x, 4, g2), c = random_crop(x, 4, g3);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_EQ(a.sizes(), x.sizes());
  // Each crop is a window of the padded image.
  auto padded = pad_images(x, 4);
  for (int64_t i = 0; i < 16; ++i) {
    bool found = false;
    for (int dy = 0; dy <= 8 && !found; ++dy)
      for (int dx = 0; dx <= 8 && !found; ++dx)
        found = torch::equal(a[i], padded[i].narrow(1, dy, 8).narrow(2, dx, 8));
    EXPECT_TRUE(found) << i;
  }
  auto f1 = random_hflip(x, g1), f2 = random_hflip(x, g2);
  EXPECT_TRUE(torch::equal(f1, f2));
  int flipped = 0;
  for (int64_t i = 0; i < 16; ++i) {
    const bool same = torch::equal(f1[i], x[i]);
    EXPECT_TRUE(same || torch::equal(f1[i], x[i].flip({2})));
    flipped += same ? 0 : 1;
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 16);
  // Other seeds give other flips.
  auto g4 = make_generator(3, 0);
  EXPECT_FALSE(torch::equal(random_hflip(x, g4), f1));
}

TEST(Transforms, RandomDihedralDrawsEachSymmetryOfTheSquare) {
  auto x = torch::arange(64 * 2 * 5 * 5, torch::kFloat).view({64, 2, 5, 5});
  auto g1 = make_generator(7, 0), g2 = make_generator(7, 0);
  auto a = random_dihedral(x, g1);
  EXPECT_TRUE(torch::equal(a, random_dihedral(x, g2)));  // same generator state, same draws
  // Every output is one of the 8 images of its input under the group, and
  // 64 samples show (almost surely) all 8; pixels are only moved.
  std::set<int> seen;
  for (int64_t i = 0; i < 64; ++i) {
    const auto s = x[i];
    const std::vector<torch::Tensor> group = {
        s, s.flip({2}), s.flip({1}), s.flip({1, 2}), s.transpose(1, 2), s.transpose(1, 2).flip({2}),
        s.transpose(1, 2).flip({1}), s.transpose(1, 2).flip({1, 2})};
    int match = -1;
    for (int g = 0; g < 8; ++g)
      if (torch::equal(a[i], group[g])) match = g;
    ASSERT_GE(match, 0) << i;
    seen.insert(match);
  }
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_THROW(random_dihedral(torch::zeros({1, 1, 4, 5}), g1), c10::Error);
}

TEST(Transforms, RandomChannelPermutationPermutesEachSampleAlone) {
  auto x = torch::rand({60, 3, 4, 4}, torch::kDouble);
  auto g1 = make_generator(5, 0), g2 = make_generator(5, 0);
  auto p = random_channel_permutation(x, g1);
  EXPECT_TRUE(torch::equal(p, random_channel_permutation(x, g2)));
  std::set<std::vector<int>> seen;
  for (int64_t i = 0; i < 60; ++i) {
    std::vector<int> perm;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t d = 0; d < 3; ++d)
        if (torch::equal(p[i][c], x[i][d])) perm.push_back(static_cast<int>(d));
    ASSERT_EQ(perm.size(), 3u) << i;  // each output channel is exactly one input channel
    EXPECT_EQ(std::set<int>(perm.begin(), perm.end()).size(), 3u) << i;
    seen.insert(perm);
  }
  EXPECT_EQ(seen.size(), 6u);  // all 3! orders drawn
  auto gray = torch::rand({2, 1, 3, 3});
  EXPECT_TRUE(torch::equal(random_channel_permutation(gray, g1), gray));
  EXPECT_THROW(random_channel_permutation(torch::zeros({1, 5, 2, 2}), g1), c10::Error);
}

TEST(Transforms, NormalizeAndDenormalizeAreInverse) {
  auto x = torch::rand({4, 3, 5, 5}, torch::kDouble);
  const std::vector<double> mean = {0.4914, 0.4822, 0.4465}, std = {0.247, 0.243, 0.261};
  auto n = normalize_channels(x, mean, std);
  EXPECT_NEAR(n[1][2][3][4].item<double>(), (x[1][2][3][4].item<double>() - 0.4465) / 0.261, 1e-12);
  EXPECT_TRUE(torch::allclose(denormalize_channels(n, mean, std), x, 0, 1e-12));
  auto m = torch::rand({2, 1, 4, 4});
  EXPECT_TRUE(torch::allclose(
      denormalize_channels(normalize_channels(m, {0.1307}, {0.3081}), {0.1307}, {0.3081}), m, 1e-6,
      1e-6));
  EXPECT_THROW(normalize_channels(x, {0.5, 0.5}, {1, 1}), c10::Error);
  EXPECT_THROW(normalize_channels(x, {0.5}, {0.0}), c10::Error);
  EXPECT_TRUE(torch::allclose(to_unit(to_signed(x)), x));
  EXPECT_EQ(to_signed(torch::zeros({1})).item<double>(), -1.0);
}
