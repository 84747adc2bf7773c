// Binomial checkpointing (sparse/checkpoint_schedule.h): the schedule's
// counts against Griewank's closed form, and a simulated reversal that never
// holds more than `slots` states and advances exactly advances() steps.
#include "sparseloop/sparse/checkpoint_schedule.h"

#include <map>

#include <gtest/gtest.h>

using namespace sparseloop;

namespace {

int64_t binomial(int64_t n, int64_t k) {
  int64_t r = 1;
  for (int64_t i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return r;
}

/// Griewank's minimal forward steps to reverse l steps with s snapshots, the
/// chain's start being one of them (Griewank & Walther 2000, Prop. 1):
/// t·l − β(s + 1, t − 1) with β(s, t) = C(s + t, s) and t the smallest with
/// β(s, t) ≥ l.
int64_t griewank(int64_t l, int64_t s) {
  int64_t t = 0;
  while (binomial(s + t, s) < l) ++t;
  return t * l - binomial(s + t, s + 1);
}

/// Reverses `steps` steps as the unrolled backward does, after a first pass
/// that stored the first descent's states; returns the advances the reversal
/// recomputes (the first pass's not counted) and checks the slots. `last`
/// receives the first descent's last stored step.
int64_t simulate(const CheckpointSchedule& schedule, int64_t steps, int64_t slots, int64_t& last) {
  std::map<int64_t, bool> stored;  // step index → stored (0 is implicit)
  int64_t advances = 0;
  // First pass: the first descent's stores, then on to the end.
  last = 0;
  int64_t free_slots = slots;
  for (int64_t m = schedule.split(steps, free_slots); m > 0; m = schedule.split(steps - last, free_slots)) {
    last += m;
    stored[last] = true;
    --free_slots;
  }
  for (int64_t k = steps - 1; k >= 0; --k) {
    auto it = stored.upper_bound(k);
    int64_t i = it == stored.begin() ? 0 : std::prev(it)->first;
    while (i < k) {
      const int64_t m = schedule.split(k - i + 1, slots - static_cast<int64_t>(stored.size()));
      const int64_t target = m > 0 ? i + m : k;
      advances += target - i;
      i = target;
      if (m > 0) stored[i] = true;
      EXPECT_LE(static_cast<int64_t>(stored.size()), slots);
    }
    stored.erase(k);
  }
  return advances;
}

}  // namespace

TEST(CheckpointSchedule, NoSlotIsQuadratic) {
  CheckpointSchedule s(50, 0);
  EXPECT_EQ(s.advances(50, 0), 50 * 49 / 2);
  EXPECT_EQ(s.split(50, 0), 0);
}

TEST(CheckpointSchedule, ReachesGriewanksBound) {
  for (int64_t slots : {0, 1, 2, 3, 4, 8}) {
    CheckpointSchedule s(200, slots);
    for (int64_t n : {2, 7, 10, 50, 123, 200}) {
      // Our slots do not count the start, which is always kept: s = slots + 1.
      EXPECT_EQ(s.advances(n, slots), griewank(n, slots + 1)) << "n " << n << " slots " << slots;
    }
  }
  EXPECT_EQ(CheckpointSchedule(50, 4).advances(50, 4), 122);
}

TEST(CheckpointSchedule, SimulatedReversalHoldsAtMostSlotsAndRecomputesAsCounted) {
  for (int64_t steps : {1, 2, 3, 10, 50, 77}) {
    for (int64_t slots : {0, 1, 2, 4, 9}) {
      CheckpointSchedule s(steps, slots);
      int64_t last = 0;
      const int64_t recomputed = simulate(s, steps, slots, last);
      // A(K, S) counts the whole reversal, its first descent (0 → last) included.
      EXPECT_EQ(recomputed, s.advances(steps, slots) - last) << "steps " << steps << " slots " << slots;
    }
  }
}
