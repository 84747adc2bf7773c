// Timing and memory measurement for `sparseloop bench`.
#pragma once

#include <functional>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// Runs `fn` `warmup` times, then `repeats` timed times (synchronizing CUDA
/// around each); returns the per-run milliseconds.
std::vector<double> time_runs(const std::function<void()>& fn, int repeats, int warmup,
                              torch::Device device);

double median(std::vector<double> v);

/// Milliseconds on the monotonic clock (differences only).
double now_ms();

/// Peak resident memory of this process (VmHWM), in MiB: since the start or
/// since the last reset_peak_rss().
double process_peak_rss_mib();

/// Current resident memory of this process (VmRSS), in MiB.
double process_rss_mib();

/// Resets the process's peak resident memory to its current resident memory
/// (Linux: /proc/self/clear_refs); false where that is not possible.
bool reset_peak_rss();

/// Peak memory of `fn`: CUDA allocator peak on CUDA; on the CPU how far the
/// process's resident set rose above its size at the start of `fn` (the peak
/// is reset first, so an earlier, larger phase does not hide this one's;
/// where it cannot be reset, only the rise above the earlier peak shows).
double peak_memory_mib(const std::function<void()>& fn, torch::Device device);

}  // namespace sparseloop
