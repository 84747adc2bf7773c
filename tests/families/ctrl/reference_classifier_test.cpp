#include "sparseloop/families/ctrl/reference_classifier.h"

#include <gtest/gtest.h>

// A 64×64 image is judged as its 2×2-averaged 32×32 version (the fit of the
// 64×64 judge then costs what a 32×32 one does), and 32×32 images are judged
// as they are: the same weights give the same logits either way.
TEST(ReferenceClassifier, LargeImagesAreJudgedAtThirtyTwoPixels) {
  using namespace sparseloop;
  torch::manual_seed(3);
  SmallCnn net(3, 5, 8);
  net->eval();
  torch::NoGradGuard no_grad;
  auto x64 = torch::rand({4, 3, 64, 64}) * 2 - 1;                    // (4, 3, 64, 64)
  auto x32 = x64.view({4, 3, 32, 2, 32, 2}).mean({3, 5});             // (4, 3, 32, 32)
  auto big = net->forward(x64);                                        // (4, 5)
  auto small = net->forward(x32);                                      // (4, 5)
  ASSERT_EQ(big.sizes(), (std::vector<int64_t>{4, 5}));
  EXPECT_TRUE(torch::allclose(big, small, 1e-5, 1e-5)) << (big - small).abs().max();
  // Sizes at or under 32 are not resampled: a 28×28 image differs from its
  // own 2×2 means, so equal logits there would mean it had been pooled.
  auto x28 = torch::rand({4, 3, 28, 28}) * 2 - 1;
  auto x14 = x28.view({4, 3, 14, 2, 14, 2}).mean({3, 5});
  EXPECT_FALSE(torch::allclose(net->forward(x28), net->forward(x14), 1e-3, 1e-3));
  // Non-square images larger than 32 on one side only keep the other side.
  auto wide = torch::rand({2, 3, 32, 64});
  EXPECT_TRUE(torch::allclose(net->forward(wide),
                              net->forward(wide.view({2, 3, 32, 32, 2}).mean(4)), 1e-5, 1e-5));
}
