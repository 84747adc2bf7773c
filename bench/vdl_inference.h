// `sparseloop bench --case vdl-inference` (docs/cli.md §7): times VDL's FISTA
// inference (families/vdl/model.h) on the paper's MNIST shape — batch 250, 784 → 128,
// 200 steps with no early stop — with λ, β, γ, T, η of the MNIST VDL preset.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

/// Runs `repeats` timed inferences (after one warm-up) of a random linear
/// VDL model (default initialisation, LISTA warm start, inputs ~ N(0, 1)) and
/// returns
///   forward_ms      median wall time of one inference (float32)
///   min_ms          fastest of them
///   gflop, gflops   floating-point work per inference and the rate reached
///   flop_per_step, bytes_per_step  one FISTA step's arithmetic and cache traffic
///   gemm_floor_ms   the floor: the step's (B×l)·(l×l) addmm alone, `steps` times
///   fraction_of_floor  gemm_floor_ms / forward_ms
///   rel_error       ‖z_f32 − z_f64‖/‖z_f64‖ against a float64 run of the same problem
///   autograd_ms     the same loop written like the authors' (energy → autograd
///                   backward each step, no Gram form), float32, timed in up to 3
///                   rounds paired with ours (util/timing.h)
///   speedup_vs_autograd  the median of the per-round ratios
/// (No fixed "reference" time: the authors' 3.4 s of docs/design.md §11.2 was
/// measured with Debian's reference BLAS and fell to 0.49 s with OpenBLAS; only
/// what runs in the same process is compared.)
/// plus the problem's sizes. Runs on `device` (CUDA timings synchronise).
nlohmann::json bench_vdl_inference(int64_t batch = 250, int64_t dim = 784, int64_t code_dim = 128,
                                   int64_t steps = 200, torch::Device device = torch::kCPU,
                                   int repeats = 10);

}  // namespace sparseloop
