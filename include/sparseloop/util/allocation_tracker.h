// Exact tensor-memory accounting of a scope: every allocation and free of
// LibTorch's CPU allocator made on this thread while the tracker is alive
// (c10's memory-reporting hook, the one the profiler's profile_memory uses),
// summed into the bytes live and their peak. Deterministic for a
// deterministic computation, unlike the resident set, which the heap's reuse
// and other threads blur: the tests compare memory with it
// (tests/sparse/unrolled_backward_test.cpp), the bench reports it next to RSS.
#pragma once

#include <cstdint>
#include <memory>

namespace sparseloop {

class AllocationTracker {
 public:
  /// Starts counting (nested trackers: the innermost one counts). Counts
  /// nothing while LibTorch's profiler runs on this thread: both use c10's
  /// one profiler-state slot, and the profiler reads whatever holds it as its
  /// own state (taking it crashed `bench --profile`).
  AllocationTracker();
  ~AllocationTracker();
  AllocationTracker(const AllocationTracker&) = delete;
  AllocationTracker& operator=(const AllocationTracker&) = delete;

  /// Bytes allocated and not yet freed since the start (frees of blocks
  /// allocated before it are not counted).
  int64_t live_bytes() const;
  /// The largest live_bytes() seen.
  int64_t peak_bytes() const;
  /// False when the profiler held the slot at construction: the counts stay 0.
  bool counting() const { return guard_ != nullptr; }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  void* guard_;  // c10::DebugInfoGuard, owned
};

}  // namespace sparseloop
