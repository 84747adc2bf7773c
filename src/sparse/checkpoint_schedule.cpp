#include "sparseloop/sparse/checkpoint_schedule.h"

#include <algorithm>
#include <limits>

#include <c10/util/Exception.h>

namespace sparseloop {

CheckpointSchedule::CheckpointSchedule(int64_t steps, int64_t slots)
    : steps_(steps), slots_(slots) {
  TORCH_CHECK(steps >= 1 && slots >= 0, "CheckpointSchedule: steps must be >= 1 and slots >= 0");
  const int64_t width = steps + 1;
  cost_.assign(static_cast<size_t>((slots + 1) * width), 0);
  split_.assign(cost_.size(), 0);
  // No slot: reverse step i+n−1 by advancing n−1 steps, then i+n−2, …
  for (int64_t n = 1; n <= steps; ++n) cost_[at(n, 0)] = n * (n - 1) / 2;
  for (int64_t f = 1; f <= slots; ++f) {
    for (int64_t n = 2; n <= steps; ++n) {
      int64_t best = std::numeric_limits<int64_t>::max(), best_m = 1;
      for (int64_t m = 1; m < n; ++m) {
        const int64_t c = m + cost_[at(n - m, f - 1)] + cost_[at(m, f)];
        if (c < best) {  // the smallest m among equals: the earliest store
          best = c;
          best_m = m;
        }
      }
      cost_[at(n, f)] = best;
      split_[at(n, f)] = best_m;
    }
  }
}

int64_t CheckpointSchedule::split(int64_t n, int64_t free_slots) const {
  TORCH_CHECK(n >= 1 && n <= steps_, "CheckpointSchedule: n out of range");
  if (n == 1 || free_slots <= 0) return 0;
  return split_[at(n, std::min(free_slots, slots_))];
}

int64_t CheckpointSchedule::advances(int64_t n, int64_t free_slots) const {
  TORCH_CHECK(n >= 1 && n <= steps_, "CheckpointSchedule: n out of range");
  return cost_[at(n, std::clamp<int64_t>(free_slots, 0, slots_))];
}

}  // namespace sparseloop
