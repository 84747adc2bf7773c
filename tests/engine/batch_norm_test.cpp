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
