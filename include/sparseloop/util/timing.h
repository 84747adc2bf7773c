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

/// Times several functions in rounds — one run of each per round, in turn
/// (A B C, A B C, …) — after `warmup` such rounds; returns each function's
/// per-round milliseconds. On a shared machine whose speed drifts (the
/// project's 2-core VMs: the same command's median moved 1.5× between runs
/// minutes apart), functions timed in separate blocks see different phases
/// of the drift; in rounds they see the same ones, so per-round ratios
/// (median_ratio) are robust where ratios of separate medians are not.
std::vector<std::vector<double>> time_interleaved(const std::vector<std::function<void()>>& fns,
                                                  int rounds, int warmup, torch::Device device);

/// Median over i of num[i] / den[i] (paired rounds of time_interleaved).
double median_ratio(const std::vector<double>& num, const std::vector<double>& den);

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
