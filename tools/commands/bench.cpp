// `sparseloop bench` (CLI.md): timings as one JSON object. Tests check
// correctness, not time; numbers go to docs/performance.md.
#include <iostream>

#include "commands.h"
#include "sparseloop/models/vdl_bench.h"
#include "sparseloop/models/sdnet.h"
#include "sparseloop/models/sdnet_bench.h"
#include "sparseloop/sparse/csc_bench.h"
#include "sparseloop/train/ctrl_bench.h"
#include "sparseloop/util/error.h"

namespace sparseloop::cli {
namespace {

struct BenchFlags {
  CommonFlags common;
  std::string bench_case = "csc-layer";
  int64_t in = 64, out = 64, kernel = 3, stride = 1, size = 32;
  int64_t batch = 0, iterations = 0;  ///< 0: the case's default (see --help)
  int repeats = 5;
  std::string backward = "unrolled";
  std::string model;
  int64_t width = 64, channels = 1;
  bool no_reference = false;
};

int run_bench(const BenchFlags& f) {
  const torch::Device device = apply_common_flags(f.common);
  require(f.repeats >= 1, "--repeats must be >= 1");
  require(f.batch >= 0 && f.iterations >= 0 && f.size >= 1,
          "--batch and --iterations must be >= 0 (0: the case's default), --size >= 1");
  // Case defaults: the sizes docs/performance.md records.
  auto batch_or = [&](int64_t d) { return f.batch > 0 ? f.batch : d; };
  auto iterations_or = [&](int64_t d) { return f.iterations > 0 ? f.iterations : d; };
  nlohmann::json r;
  if (f.bench_case == "csc-layer") {
    require(f.in >= 1 && f.out >= 1 && f.kernel >= 1 && f.stride >= 1,
            "--in, --out, --kernel and --stride must be >= 1");
    require(f.size + 2 * (f.kernel / 2) >= f.kernel, "--size is smaller than --kernel");
    require(f.backward == "unrolled" || f.backward == "implicit",
            "--backward must be unrolled or implicit");
    CscBenchOptions o;
    o.in = f.in;
    o.out = f.out;
    o.kernel = f.kernel;
    o.stride = f.stride;
    o.size = f.size;
    o.batch = batch_or(device.is_cuda() ? 128 : 32);
    o.iterations = iterations_or(10);
    o.repeats = f.repeats;
    o.backward = f.backward;
    o.reference = !f.no_reference;
    o.device = device;
    r = bench_csc_layer(o);
  } else if (f.bench_case == "csc-ctrl-step") {
    CtrlBenchOptions o;
    o.model = f.model.empty() ? "csc-ctrl" : f.model;
    require(o.model == "csc-ctrl" || o.model == "ctrl", "--model must be csc-ctrl or ctrl");
    o.channels = f.channels;
    o.size = f.size;
    o.batch = batch_or(64);
    o.width = f.width;
    o.fista_steps = iterations_or(2);
    o.repeats = f.repeats;
    o.device = device;
    r = bench_ctrl_step(o);
  } else if (f.bench_case == "vdl-inference") {
    // The paper's MNIST size: batch 250, 784 → 128, 200 FISTA steps, no early stop.
    r = bench_vdl_inference(batch_or(250), 784, 128, iterations_or(200), device, f.repeats);
  } else if (f.bench_case == "sdnet-step") {
    const std::string model = f.model.empty() ? "sdnet18-all" : f.model;
    sdnet_options_for(model, "--model");  // InputError naming --model
    require(f.width >= 1, "--width must be >= 1");
    require(f.size >= 8, "--size " + std::to_string(f.size) + ": sdnet-step needs at least 8 px");
    r = bench_sdnet_step(model, batch_or(128), f.size, device, f.repeats, f.width, !f.no_reference);
  } else {
    throw InputError("--case '" + f.bench_case +
                     "': expected csc-layer, csc-ctrl-step, vdl-inference or sdnet-step");
  }
  say("bench " + f.bench_case + ": " + r.dump());
  print_json(f.common, r);
  return 0;
}

}  // namespace

void register_bench(CLI::App& app, std::vector<Command>& commands) {
  auto f = std::make_shared<BenchFlags>();
  auto* cmd = add_command(app, commands, "bench",
                          "Time a layer or a training step (JSON with medians)",
                          [f] { return run_bench(*f); });
  cmd->add_option("--case", f->bench_case,
                  "csc-layer | csc-ctrl-step | vdl-inference | sdnet-step")
      ->capture_default_str();
  cmd->add_option("--in", f->in, "csc-layer: input channels")->capture_default_str();
  cmd->add_option("--out", f->out, "csc-layer: code channels")->capture_default_str();
  cmd->add_option("--kernel", f->kernel, "csc-layer: kernel size")->capture_default_str();
  cmd->add_option("--stride", f->stride, "csc-layer: stride")->capture_default_str();
  cmd->add_option("--size", f->size, "image size")->capture_default_str();
  cmd->add_option("--batch", f->batch,
                  "batch size (0: csc-layer 32 on CPU / 128 on CUDA, csc-ctrl-step 64, vdl-inference 250, sdnet-step 128)")
      ->capture_default_str();
  cmd->add_option("--iterations", f->iterations,
                  "FISTA steps (0: csc-layer 10, csc-ctrl-step 2, vdl-inference 200)")
      ->capture_default_str();
  cmd->add_option("--repeats", f->repeats, "timed repetitions (the median is reported)")
      ->capture_default_str();
  cmd->add_option("--backward", f->backward, "csc-layer: unrolled | implicit")
      ->capture_default_str();
  cmd->add_option("--model", f->model, "csc-ctrl-step: csc-ctrl | ctrl; sdnet-step: the model");
  cmd->add_option("--width", f->width,
                  "csc-ctrl-step: first-layer width; sdnet-step: base width (paper: 64)")
      ->capture_default_str();
  cmd->add_option("--channels", f->channels, "csc-ctrl-step: image channels")
      ->capture_default_str();
  cmd->add_flag("--no-reference", f->no_reference,
                "csc-layer: skip the conv_transpose2d reference timing; sdnet-step: skip "
                "the ResNet baseline");
  add_common_flags(cmd, f->common);
}

}  // namespace sparseloop::cli
