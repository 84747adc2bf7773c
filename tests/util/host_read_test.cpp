#include "sparseloop/util/host_read.h"

#include <gtest/gtest.h>

using namespace sparseloop;

TEST(HostRead, EqualsItemForEveryDtypeAndShape) {
  const std::vector<torch::Tensor> scalars{
      torch::scalar_tensor(1.0 / 3.0, torch::kDouble),
      torch::full({1}, 0.1f),                          // float32, shape (1)
      torch::full({1, 1, 1}, -2.5, torch::kBFloat16),  // bf16, shape (1, 1, 1)
      torch::scalar_tensor(int64_t{1} << 40, torch::kLong),
      torch::scalar_tensor(7, torch::kInt),
      torch::scalar_tensor(true, torch::kBool),
      torch::arange(5, torch::kFloat).narrow(0, 3, 1),  // a view with an offset
  };
  const auto got = host_read(scalars);
  ASSERT_EQ(got.size(), scalars.size());
  for (size_t i = 0; i < scalars.size(); ++i) EXPECT_EQ(got[i], scalars[i].item<double>()) << i;
  EXPECT_TRUE(host_read({}).empty());
}

TEST(HostRead, RefusesTensorsThatAreNotOneValue) {
  EXPECT_THROW(host_read({torch::zeros({2})}), c10::Error);
  EXPECT_THROW(host_read({torch::zeros({0})}), c10::Error);
  EXPECT_THROW(host_read({torch::Tensor()}), c10::Error);
}
