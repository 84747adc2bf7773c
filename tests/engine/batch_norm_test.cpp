// BatchNorm statistics re-estimated for the current weights (engine/batch_norm.h).
#include "sparseloop/engine/batch_norm.h"

#include <gtest/gtest.h>

using namespace sparseloop;

TEST(BatchNorm, RecalibrationIsThePlainAverageOverTheBatchesAndKeepsTheMomentum) {
  torch::manual_seed(0);
  torch::nn::Sequential net(torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4),
                            torch::nn::Linear(4, 2));
  auto bn = net[1]->as<torch::nn::BatchNorm1d>();
  // Lagging statistics: what a short training run leaves behind.
  bn->running_mean.fill_(5.0);
  bn->running_var.fill_(9.0);
  net->eval();
  std::vector<torch::Tensor> batches = {torch::randn({8, 3}), torch::randn({8, 3}) + 1.0};
  std::vector<torch::Tensor> hidden;
  {
    torch::NoGradGuard g;
    for (const auto& x : batches) hidden.push_back(net[0]->as<torch::nn::Linear>()->forward(x));
  }
  const auto params_before = net->parameters()[0].clone();
  recalibrate_batch_norm(*net, batches, [&](const torch::Tensor& x) { net->forward(x); });
  // The mean of the batch means, and of the unbiased batch variances.
  auto mean = (hidden[0].mean(0) + hidden[1].mean(0)) / 2;
  auto var = (hidden[0].var(0, /*unbiased=*/true) + hidden[1].var(0, true)) / 2;
  EXPECT_TRUE(torch::allclose(bn->running_mean, mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(bn->running_var, var, 1e-5, 1e-6));
  EXPECT_FALSE(net->is_training());                      // the mode is restored
  EXPECT_EQ(bn->options.momentum().value(), 0.1);        // and the momentum
  EXPECT_TRUE(torch::equal(net->parameters()[0], params_before));  // weights untouched
  // A model without BatchNorm is left alone.
  torch::nn::Linear plain(3, 2);
  int calls = 0;
  recalibrate_batch_norm(*plain, batches, [&](const torch::Tensor&) { ++calls; });
  EXPECT_EQ(calls, 0);
}

// The statistics batches are a seeded sample of the whole training file: on
// a file stored class by class (an ImageFolder: 10 classes of 600 images in
// a row) every class is in them, as it is in training batches. The first
// 512 images, used before, were all class 0.
TEST(BatchNorm, StatisticsBatchesSampleTheWholeFile) {
  const int64_t n = 6000, classes = 10;
  const auto batches = statistics_batch_indices(n, 64, 123);
  ASSERT_EQ(batches.size(), 8u);  // 8 batches of 64: 512 images
  auto all = torch::cat(batches);  // (512,)
  EXPECT_EQ(std::get<0>(at::_unique(all)).numel(), 512);  // no image twice
  EXPECT_GE(all.min().item<int64_t>(), 0);
  EXPECT_LT(all.max().item<int64_t>(), n);
  auto per_class = torch::bincount(torch::div(all, n / classes, "floor"), {}, classes);  // (10,)
  // ≈ 51 expected per class; a uniform sample has every class above 25.
  EXPECT_GT(per_class.min().item<int64_t>(), 25) << per_class;
  // Deterministic per seed, different across seeds.
  const auto again = statistics_batch_indices(n, 64, 123);
  for (size_t k = 0; k < batches.size(); ++k) EXPECT_TRUE(torch::equal(batches[k], again[k]));
  EXPECT_FALSE(torch::equal(batches[0], statistics_batch_indices(n, 64, 124)[0]));
  // Small sets: at most 2 048 images, batches no larger than the set.
  EXPECT_EQ(statistics_batch_indices(n, 1000, 1).size(), 2u);
  const auto tiny = statistics_batch_indices(5, 8, 1);
  ASSERT_EQ(tiny.size(), 1u);
  EXPECT_EQ(tiny[0].numel(), 5);
}
