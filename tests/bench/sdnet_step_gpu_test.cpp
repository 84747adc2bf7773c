// `sparseloop bench --case sdnet-step` on the GPU; skipped without a CUDA device.
#include "bench/sdnet_step.h"

#include <gtest/gtest.h>

using namespace sparseloop;

TEST(SdnetBenchGpu, StepJsonWithCudaMemoryAndBaseline) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto j = bench_sdnet_step("sdnet18", 16, 32, torch::kCUDA, 2, 16);
  EXPECT_GT(j["images_per_second"].get<double>(), 0.0);
  EXPECT_GT(j["peak_mib"].get<double>(), 0.0);
  EXPECT_EQ(j["peak_memory_kind"], "cuda_allocated");
  EXPECT_EQ(j["baseline"]["model"], "resnet18");
}
