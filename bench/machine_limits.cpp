#include "bench/machine_limits.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "sparseloop/util/blas_product.h"
#include "sparseloop/util/timing.h"

namespace sparseloop {
namespace {

/// Median GFLOP/s of an n×n×n product in `dtype` (0 when the dtype fails).
/// A dtype without a fast kernel (bf16 on a CPU without AVX-512-BF16/AMX
/// falls back to a scalar loop) is timed at n/2 when n takes over 100 ms.
double matmul_gflops(torch::Device device, torch::ScalarType dtype, int64_t n) {
  try {
    auto o = torch::TensorOptions().device(device).dtype(dtype);
    const int64_t probe = n / 2;
    {
      auto a = torch::randn({probe, probe}, o), b = torch::randn({probe, probe}, o);
      const double ms = median(time_runs([&] { torch::mm(a, b); }, 1, 1, device));
      if (ms * 8 > 100.0) n = probe;
    }
    auto a = torch::randn({n, n}, o), b = torch::randn({n, n}, o), c = torch::empty({n, n}, o);
    // As the library multiplies (util/blas_product.h): into a zeroed output
    // with beta = 1 where OpenBLAS's own clearing of C (beta = 0) would
    // charge the peak with a slow store loop (1024³: 1.12× on an AVX2 EPYC).
    auto ms = time_runs([&] { blas_mm_out(c, a, b); }, 5, 1, device);
    return 2.0 * n * n * n / (median(ms) * 1e6);
  } catch (const c10::Error&) {
    return 0.0;
  }
}

/// Whether this thread's floating-point unit flushes a subnormal product to
/// zero (1e-30 · 1e-10 = 1e-40 is below float's smallest normal, 1.2e-38).
bool flushes_subnormals() {
  volatile float tiny = 1e-30f, scale = 1e-10f;
  volatile float product = tiny * scale;
  return product == 0.0f;
}

/// The same in every thread of LibTorch's intra-op pool: the CLI sets the
/// flag in main before any thread starts (tools/sparseloop.cpp), and the
/// workers must have inherited it, or the convolutions they run slow down on
/// subnormal codes (docs/performance.md, "Subnormal floats").
bool every_thread_flushes_subnormals() {
  std::atomic<bool> all{flushes_subnormals()};
  const int64_t n = at::get_num_threads();
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) {
    if (!flushes_subnormals()) all = false;
  });
  return all;
}

}  // namespace

const MachineLimits& machine_limits(torch::Device device) {
  static std::mutex mutex;
  static std::map<std::string, MachineLimits> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(device.str());
  if (it != cache.end()) return it->second;
  torch::NoGradGuard no_grad;
  MachineLimits m;
  const bool cuda = device.is_cuda();
  const int64_t n = cuda ? 4096 : 1024;
  m.fp32_gflops = matmul_gflops(device, torch::kFloat, n);
  m.bf16_gflops = matmul_gflops(device, torch::kBFloat16, n);
  // STREAM's triad (McCalpin 1995): 2 reads and 1 write per element, in
  // buffers well past the last-level cache.
  const int64_t len = (cuda ? (int64_t(1) << 30) : (int64_t(64) << 20)) / 4;
  auto o = torch::TensorOptions().device(device).dtype(torch::kFloat);
  auto a = torch::zeros({len}, o), b = torch::ones({len}, o), c = torch::ones({len}, o);
  const double triad_ms = median(time_runs([&] { at::add_out(a, b, c, 3.0); }, 5, 1, device));
  m.bandwidth_gbs = 3.0 * 4.0 * len / (triad_ms * 1e6);
  const double copy_ms = median(time_runs([&] { a.copy_(b); }, 5, 1, device));
  m.copy_gbs = 2.0 * 4.0 * len / (copy_ms * 1e6);
  m.subnormals_flushed = every_thread_flushes_subnormals();
  return cache.emplace(device.str(), m).first->second;
}

nlohmann::json to_json(const MachineLimits& m) {
  return {{"fp32_gflops", m.fp32_gflops},
          {"bf16_gflops", m.bf16_gflops},
          {"bandwidth_gbs", m.bandwidth_gbs},
          {"copy_gbs", m.copy_gbs},
          {"subnormals_flushed", m.subnormals_flushed}};
}

double floor_ms(const MachineLimits& m, double flop, double bytes) {
  const double compute = m.fp32_gflops > 0 ? flop / (m.fp32_gflops * 1e6) : 0.0;
  const double memory = m.bandwidth_gbs > 0 ? bytes / (m.bandwidth_gbs * 1e6) : 0.0;
  return std::max(compute, memory);
}

nlohmann::json against_floor(const MachineLimits& m, double flop, double bytes,
                             double measured_ms, double steps) {
  const double floor = floor_ms(m, flop, bytes);
  const double compute = m.fp32_gflops > 0 ? flop / (m.fp32_gflops * 1e6) : 0.0;
  return {{"flop", flop},
          {"bytes", bytes},
          {"flop_per_step", flop / steps},
          {"bytes_per_step", bytes / steps},
          {"floor_ms", floor},
          {"bound", compute >= floor ? "compute" : "memory"},
          {"fraction_of_floor", measured_ms > 0 ? floor / measured_ms : 0.0}};
}

}  // namespace sparseloop
