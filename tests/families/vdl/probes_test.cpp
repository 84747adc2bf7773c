#include "sparseloop/families/vdl/probes.h"

#include <gtest/gtest.h>

using namespace sparseloop;

TEST(Probes, TopkAccuracyCountsDirectly) {
  auto logits = torch::tensor({{0.1, 0.7, 0.2}, {0.5, 0.1, 0.4}, {0.3, 0.3, 0.4}, {0.9, 0.05, 0.05}});
  auto labels = torch::tensor({1, 2, 0, 2}, torch::kLong);
  // top-1 predictions 1, 0, 2, 0 → one hit; top-2 sets {1,2} {0,2} {2,0|1} {0,1|2}.
  EXPECT_DOUBLE_EQ(topk_accuracy(logits, labels, 1), 0.25);
  EXPECT_DOUBLE_EQ(topk_accuracy(logits, labels, 3), 1.0);
  EXPECT_GE(topk_accuracy(logits, labels, 2), 0.5);
}

TEST(Probes, FirstPerClassKeepsOrder) {
  auto labels = torch::tensor({2, 0, 2, 1, 0, 2, 1}, torch::kLong);
  auto idx = first_per_class_indices(labels, 2, 3);
  EXPECT_TRUE(torch::equal(idx, torch::tensor({1, 4, 3, 6, 0, 2}, torch::kLong)));
  EXPECT_THROW(first_per_class_indices(torch::tensor({0, 5}, torch::kLong), 1, 3), c10::Error);
}

// Linearly separable Gaussian blobs: the probe learns them; more shots help
// on a harder problem; top-3 ≥ top-1; deterministic for a seed.
TEST(Probes, LearnsSeparableClassesAndIsDeterministic) {
  torch::manual_seed(0);
  const int64_t C = 4, F = 6;
  auto centers = torch::randn({C, F}) * 3;
  auto make = [&](int64_t per) {
    auto y = torch::arange(C).repeat_interleave(per);
    auto x = centers.index_select(0, y) + torch::randn({C * per, F});
    auto perm = torch::randperm(C * per);
    return std::make_pair(x.index_select(0, perm), y.index_select(0, perm));
  };
  auto [xtr, ytr] = make(60);
  auto [xva, yva] = make(20);
  auto [xte, yte] = make(50);
  LinearProbeOptions o;
  o.epochs = 60;
  o.lr = 1e-2;
  auto r = linear_probe(xtr, ytr, xte, yte, C, o, xva, yva);
  EXPECT_GT(r.top(1), 0.9);
  EXPECT_GE(r.top(3), r.top(1));
  EXPECT_GE(r.epoch, 1);
  EXPECT_LE(r.epoch, 60);
  auto again = linear_probe(xtr, ytr, xte, yte, C, o, xva, yva);
  EXPECT_DOUBLE_EQ(again.top(1), r.top(1));
  EXPECT_DOUBLE_EQ(again.test_loss, r.test_loss);
  auto shots = few_shot_probe(xtr, ytr, xte, yte, C, {1, 20}, o, xva, yva);
  ASSERT_EQ(shots.size(), 2u);
  EXPECT_EQ(shots[0].result.train_size, C);
  EXPECT_EQ(shots[1].result.train_size, 20 * C);
  EXPECT_THROW(r.top(5), c10::Error);
}

TEST(Probes, RejectsMismatchedInputs) {
  EXPECT_THROW(linear_probe(torch::randn({4, 3}), torch::zeros({5}, torch::kLong),
                            torch::randn({2, 3}), torch::zeros({2}, torch::kLong), 2, {}),
               c10::Error);
  EXPECT_THROW(linear_probe(torch::randn({4, 3}), torch::zeros({4}, torch::kLong),
                            torch::randn({2, 4}), torch::zeros({2}, torch::kLong), 2, {}),
               c10::Error);
}
