// Binomial checkpointing (Griewank 1992; Griewank & Walther 2000, "Algorithm
// 799: revolve"): the order in which a chain of K steps is recomputed so that
// its reversal holds at most `slots` intermediate states at once, with the
// fewest forward steps. The unrolled FISTA backward (unrolled_backward.h)
// reverses its K iterations with it, so its memory does not grow with K.
//
// Reversing n steps i … i+n−1 with the state at i stored and f free slots:
// advance m steps, store the state at i+m (one slot), reverse the n − m steps
// after it with f − 1 slots, free the slot, reverse the first m with f.
// `split(n, f)` is the m that minimizes the advances, by dynamic programming
// over
//   A(1, f) = 0,  A(n, 0) = n(n − 1)/2,
//   A(n, f) = min_{1≤m<n} m + A(n − m, f − 1) + A(m, f),
// which reaches Griewank's binomial bound with slots + 1 snapshots (his count
// includes the chain's start): A(50, 4) = 122. A(n, f) counts every advance
// of the reversal, its first descent included; the unrolled backward's
// forward pass makes that descent (it stores the same states on the way to
// z_K), so its backward recomputes A less the first descent's length. The table is O(K²·slots) to build; K ≤ a few
// thousand.
#pragma once

#include <cstdint>
#include <vector>

namespace sparseloop {

class CheckpointSchedule {
 public:
  /// Schedules for chains of up to `steps` steps with at most `slots` stored
  /// states (besides the chain's start, always kept). slots ≥ 0, steps ≥ 1.
  CheckpointSchedule(int64_t steps, int64_t slots);

  /// Steps to advance before storing a state, when n steps remain to reverse
  /// with `free_slots` free: 1 ≤ m < n; 0 when nothing is to be stored (n = 1,
  /// or no slot free: then advance straight to the step to reverse).
  int64_t split(int64_t n, int64_t free_slots) const;

  /// Forward steps of the whole reversal of n steps with f free slots, the
  /// first pass (n − 1 advances) included: A(n, f) above.
  int64_t advances(int64_t n, int64_t free_slots) const;

  int64_t steps() const { return steps_; }
  int64_t slots() const { return slots_; }

 private:
  int64_t steps_, slots_;
  std::vector<int64_t> cost_, split_;  // (slots + 1) × (steps + 1), row f
  int64_t at(int64_t n, int64_t f) const { return f * (steps_ + 1) + n; }
};

}  // namespace sparseloop
