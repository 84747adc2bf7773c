#include <gtest/gtest.h>

#include "sparseloop/data/dataset.h"

using namespace sparseloop;

namespace {

// 12 samples, 3 classes (labels 0,1,2,0,1,2,…), pixel value = sample index.
ImageDataset tiny() {
  ImageDataset d;
  d.images = torch::arange(12, torch::kLong)
                 .to(torch::kUInt8)
                 .reshape({12, 1, 1, 1})
                 .expand({12, 1, 2, 2})
                 .contiguous();
  d.labels = torch::arange(12, torch::kLong).remainder(3);
  d.num_classes = 3;
  d.name = "tiny";
  return d;
}

}  // namespace

TEST(Dataset, BatchesAndSubsets) {
  auto d = tiny();
  auto idx = torch::tensor({5, 0, 11}, torch::kLong);
  auto x = d.batch_float(idx);
  EXPECT_EQ(x.scalar_type(), torch::kFloat);
  EXPECT_FLOAT_EQ(x[0][0][1][1].item<float>(), 5.0f / 255.0f);
  EXPECT_TRUE(torch::equal(d.batch_labels(idx), torch::tensor({2, 0, 2}, torch::kLong)));
  auto s = d.subset(idx);
  EXPECT_EQ(s.size(), 3);
  EXPECT_EQ(s.name, "tiny");
  EXPECT_EQ(s.images[2][0][0][0].item<int>(), 11);
  EXPECT_THROW(d.batch_float(torch::tensor({12}, torch::kLong)), c10::Error);
  auto w = d.with_classes({2});
  EXPECT_TRUE(torch::equal(w.labels, torch::full({4}, 2, torch::kLong)));
  auto f = d.first_per_class(2);
  EXPECT_EQ(f.size(), 6);
  EXPECT_EQ(f.images[5][0][0][0].item<int>(), 5);
  ImageDataset unlabelled = d;
  unlabelled.labels = torch::Tensor();
  EXPECT_FALSE(unlabelled.batch_labels(idx).defined());
  EXPECT_THROW(unlabelled.first_per_class(1), c10::Error);
}

TEST(Dataset, SplitIsDeterministicStratifiedAndDisjoint) {
  auto d = tiny();
  auto a = split_dataset(d, 0.75, 3), b = split_dataset(d, 0.75, 3), c = split_dataset(d, 0.75, 4);
  EXPECT_TRUE(torch::equal(a.train.images, b.train.images));
  EXPECT_EQ(a.train.size(), 9);
  EXPECT_EQ(a.test.size(), 3);
  EXPECT_TRUE(torch::equal(torch::bincount(a.test.labels), torch::ones({3}, torch::kLong)));
  auto all =
      torch::cat({a.train.images.flatten(1).select(1, 0), a.test.images.flatten(1).select(1, 0)});
  EXPECT_EQ(std::get<0>(torch::_unique(all)).numel(), 12);
  // Another seed, another split (with overwhelming probability for 3^4 choices).
  EXPECT_FALSE(torch::equal(a.test.images, c.test.images) &&
               torch::equal(a.test.images, split_dataset(d, 0.75, 5).test.images));
  ImageDataset u = d;
  u.labels = torch::Tensor();
  EXPECT_EQ(split_dataset(u, 0.5, 1).train.size(), 6);
}

// `eval --limit` and the nearest-subspace fit take an even spread of a file,
// not its prefix: a class-ordered file (an ImageFolder) gives every class.
TEST(Dataset, SpreadCoversAClassOrderedFileEvenly) {
  auto d = tiny();
  // Reorder class by class, as an ImageFolder is read: 0,0,0,0,1,1,1,1,2,2,2,2.
  auto order = torch::argsort(d.labels * 100 + torch::arange(12, torch::kLong));
  auto folder = d.subset(order);
  auto s = folder.spread(6);  // indices 0, 2, 4, 6, 8, 10
  ASSERT_EQ(s.size(), 6);
  EXPECT_TRUE(torch::equal(s.labels, torch::tensor({0, 0, 1, 1, 2, 2}, torch::kLong)));
  EXPECT_TRUE(torch::equal(s.images, folder.images.index_select(0, torch::tensor({0, 2, 4, 6, 8, 10}))));
  // The prefix of the same size would hold classes 0 and 1 only.
  EXPECT_EQ(std::get<0>(torch::_unique(folder.labels.slice(0, 0, 6))).numel(), 2);
  auto three = folder.spread(3);  // 0, 4, 8: one image of each class
  EXPECT_TRUE(torch::equal(three.labels, torch::tensor({0, 1, 2}, torch::kLong)));
  // n ≤ 0 or n ≥ N: the whole file, unchanged.
  EXPECT_EQ(folder.spread(0).size(), 12);
  EXPECT_EQ(folder.spread(12).size(), 12);
  EXPECT_EQ(folder.spread(50).size(), 12);
  EXPECT_EQ(folder.spread(1).size(), 1);
}
