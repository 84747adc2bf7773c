#include "sparseloop/util/host_read.h"

#include <gtest/gtest.h>

using namespace sparseloop;

// CUDA values, with CPU ones among them, read in one copy equal item().
TEST(GpuHostRead, MixedDevicesEqualItem) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto cuda = torch::TensorOptions().device(torch::kCUDA);
  const std::vector<torch::Tensor> scalars{
      torch::full({1}, 0.1f, cuda),
      torch::scalar_tensor(1.0 / 3.0, torch::kDouble),  // on the CPU
      torch::full({1, 1}, -2.5, cuda.dtype(torch::kBFloat16)),
      torch::scalar_tensor(int64_t{1} << 40, cuda.dtype(torch::kLong)),
      torch::scalar_tensor(true, cuda.dtype(torch::kBool)),
  };
  const auto got = host_read(scalars);
  ASSERT_EQ(got.size(), scalars.size());
  for (size_t i = 0; i < scalars.size(); ++i) EXPECT_EQ(got[i], scalars[i].item<double>()) << i;
}
