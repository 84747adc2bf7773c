#include "sparseloop/util/allocation_tracker.h"

#include <algorithm>
#include <mutex>
#include <unordered_set>

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

namespace sparseloop {
namespace {

/// The type of reportMemoryUsage's running totals, read off LibTorch's own
/// declaration: int64_t in 1.13, size_t in 2.x. Deduced rather than tested
/// by version (util/compat.h), so the override matches whichever LibTorch
/// the build sees.
template <class>
struct ReportedTotal;
template <class C, class R, class P, class S, class T, class D>
struct ReportedTotal<R (C::*)(P, S, T, T, D)> {
  using type = T;
};
using MemoryTotal = ReportedTotal<decltype(&c10::MemoryReportingInfoBase::reportMemoryUsage)>::type;

}  // namespace

struct AllocationTracker::Impl : public c10::MemoryReportingInfoBase {
  mutable std::mutex mutex;
  std::unordered_set<void*> ours;  // blocks allocated while tracking
  int64_t live = 0, peak = 0;

  void reportMemoryUsage(void* ptr, int64_t alloc_size, MemoryTotal, MemoryTotal,
                         c10::Device) override {
    std::lock_guard<std::mutex> lock(mutex);
    if (alloc_size > 0) {
      ours.insert(ptr);
      live += alloc_size;
      peak = std::max(peak, live);
    } else if (ours.erase(ptr) > 0) {
      live += alloc_size;  // a negative size: the free of one of ours
    }
  }
  bool memoryProfilingEnabled() const override { return true; }
};

AllocationTracker::AllocationTracker() : impl_(std::make_shared<Impl>()), guard_(nullptr) {
  // A profiler already in the slot casts what it finds there to its own
  // state type: ours in its place is undefined behaviour (a glibc mutex
  // assertion under `bench --profile`). Then this tracker counts nothing.
  if (c10::ThreadLocalDebugInfo::get(c10::DebugInfoKind::PROFILER_STATE) != nullptr) return;
  guard_ = new c10::DebugInfoGuard(c10::DebugInfoKind::PROFILER_STATE, impl_);
}

AllocationTracker::~AllocationTracker() { delete static_cast<c10::DebugInfoGuard*>(guard_); }

int64_t AllocationTracker::live_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->live;
}

int64_t AllocationTracker::peak_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->peak;
}

}  // namespace sparseloop
