#include "bench/csc_layer.h"

#include "bench/machine_limits.h"
#include "bench/op_counter.h"
#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/csc_conv2d.h"
#include "sparseloop/sparse/unrolled_backward.h"
#include "sparseloop/util/allocation_tracker.h"
#include "sparseloop/util/timing.h"

namespace sparseloop {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

/// Peak tensor bytes (the allocator's count, CPU) of fn, in MiB; on CUDA the
/// allocator's peak (peak_memory_mib). null under `--profile`, whose
/// profiler holds the allocator's reporting hook (util/allocation_tracker.h).
nlohmann::json peak_tensor_mib(const std::function<void()>& fn, torch::Device device) {
  if (device.is_cuda()) return peak_memory_mib(fn, device);
  AllocationTracker tracker;
  fn();
  if (!tracker.counting()) return nullptr;
  return static_cast<double>(tracker.peak_bytes()) / kMiB;
}

/// The whole layer written plainly with LibTorch: D through
/// `conv_transpose2d`, Dᵀ through `conv2d`, the prox, the momentum and the
/// extrapolation as separate tensor operations, autograd through every step —
/// the SDNet authors' DictBlock (bench/authors_csc_layer.py,
/// docs/sdnet-authors-code.md §4) in C++, i.e. what a user writes without
/// this library. Same dictionary, step η, λ and sign constraint as the layer,
/// FISTA from z₀ = 0 (two ISTA steps first), so its codes equal the layer's to
/// float rounding (`plain_rel_error`). The other reference (`reference_…`)
/// shares our solver and differs only in D; this one is the issue's "plain
/// formulation" of the whole layer (docs/performance.md).
torch::Tensor plain_csc_solve(const torch::Tensor& x, const torch::Tensor& w, int64_t stride,
                              int64_t pad, double eta, double lambda, bool nonnegative,
                              int64_t steps) {
  const double thr = eta * lambda;
  auto prox = [&](const torch::Tensor& u) {
    return nonnegative ? torch::relu(u - thr) : torch::softshrink(u, thr);
  };
  // x: (B, M, H, W); w: (C, M, k, k); z: (B, C, Hz, Wz)
  auto z = prox(eta * torch::conv2d(x, w, {}, stride, pad));
  torch::Tensor z_prev = z;
  double t = 1.0;
  for (int64_t k = 1; k < steps; ++k) {
    const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
    auto y = k == 1 ? z : z + ((t - 1.0) / t_next) * (z - z_prev);
    t = t_next;
    z_prev = z;
    // D y: (B, C, Hz, Wz) → (B, M, H, W); output_padding recovers H when stride > 1.
    auto dy = torch::conv_transpose2d(y, w, {}, stride, pad,
                                      x.size(2) - ((y.size(2) - 1) * stride - 2 * pad + w.size(2)));
    z = prox(y + eta * torch::conv2d(x - dy, w, {}, stride, pad));
  }
  return z;
}

}  // namespace

nlohmann::json bench_csc_layer(const CscBenchOptions& o) {
  TORCH_CHECK(o.backward == "unrolled" || o.backward == "checkpointed" || o.backward == "implicit",
              "bench: backward must be unrolled, checkpointed or implicit");
  torch::manual_seed(0);
  const int64_t pad = o.kernel / 2;
  // L is estimated once (the dictionary does not change while timing), so
  // both columns time the same FISTA solve; the reference below uses that
  // same step.
  const auto csc = CscOptions()
                       .steps(o.iterations)
                       .lambda(0.1)
                       .nonnegative(true)
                       .step_factor(0.9)
                       .step_refresh(StepRefresh::kOnChange)
                       .implicit_backward(o.backward == "implicit")
                       .checkpointed_backward(o.backward == "checkpointed")
                       .checkpoints(o.checkpoints);
  auto options = CscConv2dOptions(o.in, o.out, o.kernel, csc).stride(o.stride).padding(pad);
  CscConv2d layer(options);
  layer->to(o.device);
  auto x = torch::randn({o.batch, o.in, o.size, o.size}, torch::TensorOptions().device(o.device));
  auto xg = x.clone().requires_grad_(true);

  auto forward = [&] {
    torch::NoGradGuard no_grad;
    layer->forward(x);
  };
  auto forward_backward = [&] {
    layer->zero_grad();
    auto z = layer->forward(xg);
    z.sum().backward();
  };
  nlohmann::json r;
  r["case"] = "csc-layer";
  r["device"] = o.device.str();
  r["threads"] = torch::get_num_threads();
  r["shape"] = {{"in", o.in}, {"out", o.out}, {"kernel", o.kernel}, {"stride", o.stride},
                {"size", o.size}, {"batch", o.batch}, {"iterations", o.iterations},
                {"backward", o.backward}};
  if (o.backward == "checkpointed") r["shape"]["checkpoints"] = o.checkpoints;
  forward();  // L's cold estimate (100 power iterations) is not what the peaks measure
  // Peaks: the resident set's rise (peak_memory_mib; blurred by the heap's
  // reuse of freed blocks) and the allocator's exact count of live tensor
  // bytes. The checkpointed backward first, so that autograd's larger graph
  // (measured next, when asked) has not already grown the heap.
  r["peak_mib"] = peak_memory_mib(forward_backward, o.device);
  r["peak_tensor_mib"] = peak_tensor_mib(forward_backward, o.device);
  r["forward_ms"] = median(time_runs(forward, o.repeats, 1, o.device));
  r["forward_backward_ms"] = median(time_runs(forward_backward, o.repeats, 1, o.device));

  // FLOPs of the forward: 1 + 2(K−1) convolutions of the dictionary's size.
  const int64_t hz = conv_code_size(o.size, o.kernel, ConvGeometry{o.stride, pad});
  const double conv_flops = 2.0 * o.batch * o.out * o.in * o.kernel * o.kernel * hz * hz;
  const double fwd_flops = conv_flops * static_cast<double>(1 + 2 * (o.iterations - 1));
  r["gflops_per_s_forward"] = fwd_flops / (r["forward_ms"].get<double>() * 1e6);
  // Counted as they run (op_counter.h), against the machine's limits
  // measured in this process (machine_limits.h); per FISTA step.
  const MachineLimits& limits = machine_limits(o.device);
  r["machine"] = to_json(limits);
  const OpCounts fwd_counts = count_ops(forward);
  const OpCounts fb_counts = count_ops(forward_backward);
  const double K = static_cast<double>(o.iterations);
  r["counts_forward"] = against_floor(limits, fwd_counts.flop, fwd_counts.bytes,
                                      r["forward_ms"].get<double>(), K);
  r["counts_forward_backward"] = against_floor(limits, fb_counts.flop, fb_counts.bytes,
                                               r["forward_backward_ms"].get<double>(), K);
  r["flop_per_step"] = r["counts_forward"]["flop_per_step"];
  r["bytes_per_step"] = r["counts_forward"]["bytes_per_step"];
  r["floor_forward_ms"] = r["counts_forward"]["floor_ms"];
  r["fraction_of_floor_forward"] = r["counts_forward"]["fraction_of_floor"];
  r["fraction_of_floor_forward_backward"] = r["counts_forward_backward"]["fraction_of_floor"];
  r["products"] = products_json(fb_counts.products, limits.fp32_gflops, limits.bf16_gflops);
  if (o.backward == "checkpointed") {
    const auto stats = last_unrolled_backward_stats();
    r["recomputed_steps"] = stats.recomputed_steps;
    r["saved_mib"] = static_cast<double>(stats.saved_bytes) / kMiB;
  }

  // Accuracy: float32 codes against a float64 solve of the same problem
  // (same dictionary, same step, same number of steps). The float32 codes
  // also serve the plain formulation's check below (nothing in between
  // changes the dictionary or the step).
  torch::Tensor codes;  // (B, out, Hz, Wz)
  {
    torch::NoGradGuard no_grad;
    codes = layer->forward(x);
    auto z32 = codes.to(torch::kDouble);
    auto dict64 = layer->dictionary().to(torch::kDouble);
    auto op64 = conv_operator(dict64, ConvGeometry{o.stride, pad}, o.size, o.size);
    auto z64 = solve_lasso(op64, x.to(torch::kDouble), csc.prox(), csc.solver(layer->step())).z;
    r["rel_error"] = ((z32 - z64).norm() / z64.norm().clamp_min(1e-30)).item<double>();
  }
  if (o.backward == "checkpointed") {
    // Autograd through the unrolled loop, the same layer, in the same run.
    layer->options.csc().checkpointed_backward(false);
    r["autograd_peak_mib"] = peak_memory_mib(forward_backward, o.device);
    r["autograd_peak_tensor_mib"] = peak_tensor_mib(forward_backward, o.device);
    r["autograd_forward_backward_ms"] = median(time_runs(forward_backward, o.repeats, 1, o.device));
    r["time_vs_autograd"] =
        r["forward_backward_ms"].get<double>() / r["autograd_forward_backward_ms"].get<double>();
    if (r["peak_tensor_mib"].is_number() && r["autograd_peak_tensor_mib"].is_number())
      r["peak_tensor_vs_autograd"] =
          r["peak_tensor_mib"].get<double>() / r["autograd_peak_tensor_mib"].get<double>();
    layer->options.csc().checkpointed_backward(true);
  }
  if (o.reference && o.backward != "implicit") {
    // The plain formulation: D through conv_transpose2d, everything else equal.
    auto ref = [&](const torch::Tensor& input) {
      auto dict = layer->dictionary();
      auto op = conv_operator_reference(dict, ConvGeometry{o.stride, pad}, o.size, o.size);
      return solve_lasso(op, input, csc.prox(), csc.solver(layer->step())).z;
    };
    auto ref_forward = [&] {
      torch::NoGradGuard no_grad;
      ref(x);
    };
    auto ref_forward_backward = [&] {
      layer->zero_grad();
      ref(xg).sum().backward();
    };
    // The whole layer written plainly (plain_csc_solve above).
    auto plain = [&](const torch::Tensor& input) {
      return plain_csc_solve(input, layer->dictionary(), o.stride, pad, layer->step(),
                             csc.lambda(), csc.nonnegative(), o.iterations);
    };
    {
      torch::NoGradGuard no_grad;
      r["plain_rel_error"] =
          ((plain(x) - codes).norm() / codes.norm().clamp_min(1e-30)).item<double>();
    }
    auto plain_forward = [&] {
      torch::NoGradGuard no_grad;
      plain(x);
    };
    auto plain_forward_backward = [&] {
      layer->zero_grad();
      plain(xg).sum().backward();
    };
    // Ours and both references in rounds (util/timing.h: one run of each per
    // round, so that all three see the same phases of a shared machine's
    // drift); each ratio is the median of its per-round ratios.
    auto fwd = time_interleaved({forward, ref_forward, plain_forward}, o.repeats, 1, o.device);
    auto fb = time_interleaved({forward_backward, ref_forward_backward, plain_forward_backward},
                               o.repeats, 1, o.device);
    r["paired_forward_ms"] = median(fwd[0]);
    r["paired_forward_backward_ms"] = median(fb[0]);
    r["reference_forward_ms"] = median(fwd[1]);
    r["reference_forward_backward_ms"] = median(fb[1]);
    r["plain_forward_ms"] = median(fwd[2]);
    r["plain_forward_backward_ms"] = median(fb[2]);
    r["speedup_forward"] = median_ratio(fwd[1], fwd[0]);
    r["speedup_forward_backward"] = median_ratio(fb[1], fb[0]);
    r["speedup_vs_plain_forward"] = median_ratio(fwd[2], fwd[0]);
    r["speedup_vs_plain_forward_backward"] = median_ratio(fb[2], fb[0]);
  }
  return r;
}

}  // namespace sparseloop
