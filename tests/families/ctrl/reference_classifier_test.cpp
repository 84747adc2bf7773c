#include "sparseloop/families/ctrl/reference_classifier.h"

#include <gtest/gtest.h>

#include <limits>

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

// The judge's inference path (no autograd: in-place ReLU, the 2×2 pools as
// strided maxima taken before their ReLU) gives the logits of the modules'
// own forward bit for bit, odd sizes (pool floors) included, and leaves the
// caller's images as they were.
TEST(ReferenceClassifier, InferencePathEqualsTheModulesBitForBit) {
  using namespace sparseloop;
  torch::manual_seed(4);
  SmallCnn net(1, 10, 24);
  net->eval();
  for (const int64_t side : {32, 28, 27}) {
    auto x = torch::rand({7, 1, side, side}) * 2 - 1;
    x[0].fill_(std::numeric_limits<float>::quiet_NaN());  // NaN stays NaN either way
    const auto before = x.clone();
    auto by_modules = net->forward(x);                    // grad mode on: the modules
    torch::Tensor fast;
    {
      torch::NoGradGuard no_grad;
      fast = net->forward(x);                             // the inference path
    }
    EXPECT_TRUE(torch::equal(x.isnan(), before.isnan()));
    EXPECT_TRUE(torch::equal(x.nan_to_num(), before.nan_to_num()));
    EXPECT_TRUE(fast[0].isnan().all().item<bool>());
    EXPECT_TRUE(torch::equal(by_modules.detach().narrow(0, 1, 6), fast.narrow(0, 1, 6))) << side;
  }
}
