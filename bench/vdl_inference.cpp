#include "bench/vdl_inference.h"

#include "bench/machine_limits.h"
#include "bench/op_counter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "sparseloop/families/vdl/model.h"
#include "sparseloop/families/vdl/variance_hinge.h"
#include "sparseloop/util/compat.h"
#include "sparseloop/util/timing.h"

namespace sparseloop {
namespace {

/// The authors' `utils.ISTA` loop (FISTA branch), transcribed: each step
/// evaluates the smooth energy with autograd and backpropagates to the codes.
torch::Tensor autograd_inference(VdlDecoder& dec, const torch::Tensor& y, const torch::Tensor& enc,
                                 const VdlInferenceOptions& o) {
  const auto& e = o.energy();
  torch::Tensor z = enc.clone(), aux = enc.clone();
  double t_old = 1.0;
  for (int64_t k = 0; k < o.max_steps(); ++k) {
    auto x = aux.detach().requires_grad_(true);
    auto loss = (y - dec->forward(x)).pow(2).mean(1).sum() +
                e.beta() * variance_hinge(x, e.threshold()) +
                e.gamma() * (x - enc).pow(2).mean(1).sum();
    auto g = torch::autograd::grad({loss}, {x})[0];
    torch::NoGradGuard no_grad;
    auto z_old = z;
    z = torch::relu(x - o.step() * g - o.step() * e.lambda());
    const double t_new = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t_old * t_old));
    aux = z + ((t_old - 1.0) / t_new) * (z - z_old);
    t_old = t_new;
  }
  return z;
}

}  // namespace

nlohmann::json bench_vdl_inference(int64_t batch, int64_t dim, int64_t code_dim, int64_t steps,
                                   torch::Device device, int repeats) {
  TORCH_CHECK(batch >= 2 && dim >= 1 && code_dim >= 1 && steps >= 1 && repeats >= 1,
              "bench_vdl_inference: batch >= 2 and positive sizes, steps, repeats required");
  torch::manual_seed(0);
  VdlModel model(VdlModelOptions(dim, code_dim));
  model->to(device);
  auto y = torch::randn({batch, dim}).to(device);
  torch::Tensor enc;
  {
    torch::NoGradGuard no_grad;
    enc = model->encoder->forward(y);
  }
  // MNIST VDL preset (paper Table 3): λ 0.02, β 10, T 0.5, γ 5, η 0.5;
  // tolerance 0 so that every run takes exactly `steps` steps.
  auto opts = VdlInferenceOptions()
                  .energy(VdlEnergyOptions().lambda(0.02).beta(10).threshold(0.5).gamma(5))
                  .step(0.5)
                  .max_steps(steps)
                  .tolerance(0);
  vdl_inference(model->decoder, y, enc, opts);  // warm-up
  cuda_synchronize();
  std::vector<double> times;
  torch::Tensor z;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now_ms();
    z = vdl_inference(model->decoder, y, enc, opts).z;
    cuda_synchronize();
    times.push_back(now_ms() - t0);
  }
  std::sort(times.begin(), times.end());
  const double median = times.size() % 2 ? times[times.size() / 2]
                                          : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);
  // Same problem in float64 for the accuracy of the float32 codes.
  auto dec64 = std::dynamic_pointer_cast<VdlDecoderImpl>(model->decoder->clone());
  VdlDecoder decoder64(dec64);
  decoder64->to(torch::kDouble);
  auto z64 = vdl_inference(decoder64, y.to(torch::kDouble), enc.to(torch::kDouble), opts).z;
  const double rel_error =
      ((z.to(torch::kDouble) - z64).norm() / z64.norm().clamp_min(1e-300)).item<double>();
  // The authors' formulation (autograd each step) and ours in paired rounds
  // (util/timing.h: one run of each per round, the median of per-round
  // ratios), up to 3 rounds: it is ≈ 20× slower.
  const auto rounds = time_interleaved(
      {[&] { vdl_inference(model->decoder, y, enc, opts); },
       [&] { autograd_inference(model->decoder, y, enc, opts); }},
      std::max(1, std::min(repeats, 3)), 0, device);
  const double autograd_ms = sparseloop::median(rounds[1]);
  const double speedup_vs_autograd = median_ratio(rounds[1], rounds[0]);
  // Work: G = WᵀW and yW once (2·l²·d + 2·B·d·l), then per step one (B×l)(l×l)
  // product (2·B·l²) plus ≈ 12 flops per code (hinge, prox, momentum).
  const double b = batch, d = dim, l = code_dim;
  const double flop_per_step = 2 * b * l * l + 12 * b * l;
  const double gflop = (2 * l * l * d + 2 * b * d * l + steps * flop_per_step) * 1e-9;
  // Bytes per step through the caches (float32): the product reads x, M and
  // c₀ and writes v; the hinge reads x twice and v once and writes v; the end
  // of the step reads v and z and writes z and y: ≈ 10 (B, l) passes + M.
  const double bytes_per_step = 4 * (10 * b * l + l * l);
  // The floor on this machine: the step's one product alone, `steps` times
  // (addmm into a buffer, the BLAS's own speed at this shape).
  double floor_ms = 0;
  {
    torch::NoGradGuard no_grad;
    auto x = torch::randn({batch, code_dim}).to(device);
    auto M = torch::randn({code_dim, code_dim}).to(device);
    auto c0 = torch::randn({batch, code_dim}).to(device);
    auto out = torch::empty_like(x);
    std::vector<double> ft;
    for (int r = 0; r < std::max(3, repeats); ++r) {
      cuda_synchronize();
      const double t0 = now_ms();
      for (int64_t k = 0; k < steps; ++k) at::addmm_out(out, c0, x, M);
      cuda_synchronize();
      ft.push_back(now_ms() - t0);
    }
    std::sort(ft.begin(), ft.end());
    floor_ms = ft[ft.size() / 2];
  }
  // Counted as it runs (the hand-written hinge and step passes are not ATen
  // operators: only the products and tensor ops show), against the limits.
  const MachineLimits& limits = machine_limits(device);
  const OpCounts counts = count_ops([&] { vdl_inference(model->decoder, y, enc, opts); });
  const nlohmann::json counted =
      against_floor(limits, counts.flop, counts.bytes, median, static_cast<double>(steps));
  return {{"case", "vdl-inference"},
          {"device", device.str()},
          {"batch", batch},
          {"dim", dim},
          {"code_dim", code_dim},
          {"steps", steps},
          {"repeats", repeats},
          {"threads", torch::get_num_threads()},
          {"forward_ms", median},
          {"min_ms", times.front()},
          {"gflop", gflop},
          {"flop_per_step", flop_per_step},
          {"bytes_per_step", bytes_per_step},
          {"gemm_floor_ms", floor_ms},
          {"machine", to_json(limits)},
          {"counts", counted},
          {"products", products_json(counts.products, limits.fp32_gflops, limits.bf16_gflops)},
          {"fraction_of_floor", floor_ms / median},
          {"gflops", gflop / (median * 1e-3)},
          {"rel_error", rel_error},
          {"autograd_ms", autograd_ms},
          {"speedup_vs_autograd", speedup_vs_autograd}};
}

}  // namespace sparseloop
