#include "sparseloop/util/timing.h"

#include <gtest/gtest.h>

using namespace sparseloop;

namespace {

/// Allocates and touches `mib` MiB (every page resident), then frees it.
void hold(int64_t mib) {
  auto t = torch::ones({mib << 20}, torch::kByte);  // (mib · 2^20,)
  ASSERT_EQ(t.sum().item<int64_t>(), mib << 20);
}

}  // namespace

// A phase's CPU peak is its own: an earlier, larger phase raised the
// process's lifetime high-water mark, which once made every later, smaller
// phase read 0 MiB in `sparseloop bench`.
TEST(Timing, CpuPeakOfAPhaseAfterABiggerOne) {
  if (!reset_peak_rss()) GTEST_SKIP() << "/proc/self/clear_refs is not writable here";
  const torch::Device cpu(torch::kCPU);
  const double big = peak_memory_mib([] { hold(256); }, cpu);
  const double small = peak_memory_mib([] { hold(128); }, cpu);
  EXPECT_GE(big, 256.0 * 0.95);
  EXPECT_GE(small, 128.0 * 0.95);
  EXPECT_LT(small, big);
}

TEST(Timing, InterleavedRoundsRunEachFunctionOncePerRoundInTurn) {
  std::vector<char> order;
  auto ms = time_interleaved({[&] { order.push_back('a'); }, [&] { order.push_back('b'); }}, 3, 1,
                             torch::kCPU);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].size(), 3u);  // the warm-up round is not reported
  EXPECT_EQ(ms[1].size(), 3u);
  EXPECT_EQ(std::string(order.begin(), order.end()), "abababab");
}

TEST(Timing, MedianRatioPairsRounds) {
  // A round run twice as slow (round 2) moves both of its times and leaves
  // its ratio at 2.
  EXPECT_DOUBLE_EQ(median_ratio({2.0, 4.0, 2.0}, {1.0, 2.0, 1.0}), 2.0);
  EXPECT_DOUBLE_EQ(median_ratio({3.0, 1.0, 2.0}, {1.0, 1.0, 1.0}), 2.0);
  EXPECT_THROW(median_ratio({1.0}, {1.0, 2.0}), c10::Error);
}
