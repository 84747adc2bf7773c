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

/// Peak resident memory of this process so far (VmHWM), in MiB.
double process_peak_rss_mib();

/// Peak memory of `fn`: CUDA allocator peak on CUDA; on the CPU the growth of
/// the process's peak resident set (an upper bound, first call only).
double peak_memory_mib(const std::function<void()>& fn, torch::Device device);

}  // namespace sparseloop
