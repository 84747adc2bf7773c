// AllocationTracker (util/allocation_tracker.h): exact counts of tensor bytes.
#include "sparseloop/util/allocation_tracker.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

using namespace sparseloop;

TEST(AllocationTracker, CountsLiveAndPeakTensorBytes) {
  auto before = torch::ones({1000});  // allocated before: its free is not counted
  AllocationTracker t;
  {
    auto a = torch::empty({1 << 20});  // 4 MiB
    auto b = torch::empty({1 << 18});  // 1 MiB
    EXPECT_EQ(t.live_bytes(), 5 << 20);
  }
  EXPECT_EQ(t.live_bytes(), 0);
  EXPECT_EQ(t.peak_bytes(), 5 << 20);
  before = torch::Tensor();
  EXPECT_EQ(t.live_bytes(), 0);
  auto c = torch::empty({1 << 18});
  EXPECT_EQ(t.live_bytes(), 1 << 20);
  EXPECT_EQ(t.peak_bytes(), 5 << 20);
}

TEST(AllocationTracker, SeesAutogradsSavedTensors) {
  auto x = torch::randn({256, 256}).requires_grad_(true);
  AllocationTracker t;
  auto y = x;
  for (int i = 0; i < 8; ++i) y = torch::sin(y);  // each sin saves its input
  const int64_t live = t.live_bytes();
  EXPECT_GE(live, 8 * 256 * 256 * 4);
  y.sum().backward();
}
