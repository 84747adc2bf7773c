// The machine's limits as `sparseloop bench` sees them, measured by tiny
// kernels in the same process (issue 12, "count and compare"): fp32 and bf16
// peak by a large matrix product, memory bandwidth by a triad over buffers
// larger than the caches. A case's floor is max(FLOPs / peak, bytes /
// bandwidth); the fraction of the floor reached is floor / measured time.
// They are the limits of the machine as loaded while the bench runs: on a
// shared machine they drop with the time the case gets, so fractions are
// comparable within a run.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

struct MachineLimits {
  double fp32_gflops = 0;   ///< median of a 1024³ (CPU) / 4096³ (CUDA) float product
  double bf16_gflops = 0;   ///< the same in bfloat16; 0 when it fails
  double bandwidth_gbs = 0; ///< triad a = b + s·c over 3 × 64 MiB (CPU) / 3 × 1 GiB (CUDA), bytes moved
  double copy_gbs = 0;      ///< a.copy_(b), bytes read + written
  bool subnormals_flushed = false;  ///< every intra-op thread flushes subnormal results to 0
};

/// Measured once per process and device (the first call takes ≈ 1–2 s).
const MachineLimits& machine_limits(torch::Device device);

/// {"fp32_gflops", "bf16_gflops", "bandwidth_gbs", "copy_gbs", "subnormals_flushed"}.
nlohmann::json to_json(const MachineLimits& limits);

/// The floor of `flop` FLOPs moving `bytes` bytes, in ms: the slower of the
/// two limits (fp32).
double floor_ms(const MachineLimits& limits, double flop, double bytes);

/// A case's counts against the limits: {"flop", "bytes", "flop_per_step",
/// "bytes_per_step", "floor_ms", "bound" ("compute" | "memory"),
/// "fraction_of_floor" = floor / measured_ms}, for a measured call of
/// `steps` steps that did `flop` FLOPs moving `bytes` bytes.
nlohmann::json against_floor(const MachineLimits& limits, double flop, double bytes,
                             double measured_ms, double steps = 1.0);

}  // namespace sparseloop
