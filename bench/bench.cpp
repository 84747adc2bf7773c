#include "bench/bench.h"

#include "bench/csc_layer.h"
#include "bench/ctrl_step.h"
#include "bench/sdnet_step.h"
#include "bench/vdl_inference.h"
#include "sparseloop/families/sdnet/model.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/precision.h"

#include <sstream>

#include <torch/csrc/autograd/profiler_legacy.h>

namespace sparseloop {
namespace {

nlohmann::json run_case(const BenchRequest& f) {
  const torch::Device device = f.device;
  require(f.repeats >= 1, "--repeats must be >= 1");
  require(f.batch >= 0 && f.iterations >= 0 && f.size >= 1,
          "--batch and --iterations must be >= 0 (0: the case's default), --size >= 1");
  // Case defaults: the sizes docs/performance.md records.
  auto batch_or = [&](int64_t d) { return f.batch > 0 ? f.batch : d; };
  auto iterations_or = [&](int64_t d) { return f.iterations > 0 ? f.iterations : d; };
  if (f.bench_case == "csc-layer") {
    require(f.in >= 1 && f.out >= 1 && f.kernel >= 1 && f.stride >= 1,
            "--in, --out, --kernel and --stride must be >= 1");
    require(f.size + 2 * (f.kernel / 2) >= f.kernel, "--size is smaller than --kernel");
    require(f.backward == "unrolled" || f.backward == "checkpointed" || f.backward == "implicit",
            "--backward must be unrolled, checkpointed or implicit");
    require(f.checkpoints >= 0, "--checkpoints must be >= 0");
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
    o.checkpoints = f.checkpoints;
    o.reference = f.reference;
    o.device = device;
    return bench_csc_layer(o);
  }
  if (f.bench_case == "csc-ctrl-step") {
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
    return bench_ctrl_step(o);
  }
  if (f.bench_case == "vdl-inference") {
    // The paper's MNIST size: batch 250, 784 → 128, 200 FISTA steps, no early stop.
    return bench_vdl_inference(batch_or(250), 784, 128, iterations_or(200), device, f.repeats);
  }
  if (f.bench_case == "sdnet-step") {
    const std::string model = f.model.empty() ? "sdnet18-all" : f.model;
    sdnet_options_for(model, "--model");  // InputError naming --model
    require(f.width >= 1, "--width must be >= 1");
    require(f.size >= 8, "--size " + std::to_string(f.size) + ": sdnet-step needs at least 8 px");
    return bench_sdnet_step(model, batch_or(128), f.size, device, f.repeats, f.width, f.reference);
  }
  throw InputError("--case '" + f.bench_case +
                   "': expected csc-layer, csc-ctrl-step, vdl-inference or sdnet-step");
}

}  // namespace

nlohmann::json run_bench(const BenchRequest& f) {
  nlohmann::json r;
  if (f.profile.empty()) {
    r = run_case(f);
  } else {
    // Every operator of the case (warm-up, timed runs, reference) with its
    // start and duration, as a Chrome trace (chrome://tracing, ui.perfetto.dev): where a
    // step's time goes, per convolution. LibTorch's legacy profiler, which
    // both 1.13 and 2.x ship; the trace is written whole or not at all.
    std::ostringstream trace;
    {
      torch::autograd::profiler::RecordProfile guard(trace);
      r = run_case(f);
    }
    write_file_atomic(f.profile, trace.str());
    r["profile"] = f.profile;
  }
  r["precision"] = to_string(compute_precision());  // --precision (util/precision.h)
  return r;
}

}  // namespace sparseloop
