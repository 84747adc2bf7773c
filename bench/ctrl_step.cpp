#include "bench/ctrl_step.h"

#include "bench/machine_limits.h"
#include "bench/op_counter.h"

#include "sparseloop/families/ctrl/game.h"
#include "sparseloop/families/ctrl/trainer.h"
#include "sparseloop/util/timing.h"

namespace sparseloop {

nlohmann::json bench_ctrl_step(const CtrlBenchOptions& o) {
  torch::manual_seed(0);
  CtrlConfig cfg;
  cfg.width = o.width;
  cfg.csc.steps(o.fista_steps);
  auto model = make_closed_loop_model(o.model, cfg, o.channels, o.size);
  model->to(o.device);
  model->train();
  ClosedLoopGame game(model, GameOptions().class_conditional(o.labels).num_classes(10));
  auto opts = torch::TensorOptions().device(o.device);
  auto x = torch::rand({o.batch, o.channels, o.size, o.size}, opts) * 2 - 1;
  auto y = o.labels ? torch::arange(o.batch, opts.dtype(torch::kLong)) % 10 : torch::Tensor();
  auto step = [&] { game.step(x, y); };
  auto forward = [&] {
    torch::NoGradGuard no_grad;
    model->encode(model->decode(model->encode(x)));
  };
  nlohmann::json r;
  r["case"] = "csc-ctrl-step";
  r["model"] = o.model;
  r["device"] = o.device.str();
  r["threads"] = torch::get_num_threads();
  r["shape"] = {{"channels", o.channels}, {"size", o.size}, {"batch", o.batch},
                {"width", o.width}, {"fista_steps", o.fista_steps}};
  r["peak_mib"] = peak_memory_mib(step, o.device);
  const double step_ms = median(time_runs(step, o.repeats, 1, o.device));
  r["step_ms"] = step_ms;
  r["forward_backward_ms"] = step_ms;
  r["images_per_second"] = o.batch / (step_ms / 1000.0);
  r["forward_ms"] = median(time_runs(forward, o.repeats, 1, o.device));
  // One game step counted as it runs, against the machine's limits (per step).
  const MachineLimits& limits = machine_limits(o.device);
  const OpCounts counts = count_ops(step);
  r["machine"] = to_json(limits);
  r["counts"] = against_floor(limits, counts.flop, counts.bytes, step_ms);
  r["flop_per_step"] = counts.flop;
  r["bytes_per_step"] = counts.bytes;
  r["fraction_of_floor"] = r["counts"]["fraction_of_floor"];
  r["products"] = products_json(counts.products, limits.fp32_gflops, limits.bf16_gflops);
  return r;
}

}  // namespace sparseloop
