// `sparseloop bench` (docs/cli.md §7): flags → bench/bench.h.
#include <algorithm>
#include <vector>

#include "bench/bench.h"
#include "commands.h"
#include "sparseloop/util/output_path.h"

namespace sparseloop::cli {
namespace {

struct BenchFlags {
  CommonFlags common;
  BenchRequest request;
  bool no_reference = false;
  CLI::App* app = nullptr;
};

/// A flag of another case was ignored silently (`--case vdl-inference
/// --backward implicit` timed the unrolled inference as if asked): it is a
/// conflict, named. And what the cases leave to LibTorch to refuse (exit 1,
/// a library message), refused here first.
void check_bench_flags(const BenchFlags& f) {
  const std::string& c = f.request.bench_case;
  const std::pair<const char*, std::vector<std::string>> users[] = {
      {"--in", {"csc-layer"}},
      {"--out", {"csc-layer"}},
      {"--kernel", {"csc-layer"}},
      {"--stride", {"csc-layer"}},
      {"--backward", {"csc-layer"}},
      {"--size", {"csc-layer", "csc-ctrl-step", "sdnet-step"}},
      {"--iterations", {"csc-layer", "csc-ctrl-step", "vdl-inference"}},
      {"--model", {"csc-ctrl-step", "sdnet-step"}},
      {"--width", {"csc-ctrl-step", "sdnet-step"}},
      {"--channels", {"csc-ctrl-step"}},
      {"--no-reference", {"csc-layer", "sdnet-step"}}};
  const bool known = c == "csc-layer" || c == "csc-ctrl-step" || c == "vdl-inference" ||
                     c == "sdnet-step";
  for (const auto& [flag, cases] : users) {
    if (!known || f.app->count(flag) == 0) continue;
    if (std::find(cases.begin(), cases.end(), c) == cases.end()) {
      std::string which;
      for (const auto& u : cases) which += (which.empty() ? "" : ", ") + u;
      throw InputError(std::string(flag) + " applies to --case " + which + ", not to " + c);
    }
  }
  if (c == "csc-ctrl-step")
    require(f.request.channels >= 1, "--channels must be >= 1");
  // Before the case runs (minutes for sdnet-step), not after it.
  if (!f.request.profile.empty()) require_writable_file_path(f.request.profile, "--profile");
}

int run_bench(BenchFlags& f) {
  check_bench_flags(f);
  f.request.device = apply_common_flags(f.common);
  f.request.reference = !f.no_reference;
  nlohmann::json r = sparseloop::run_bench(f.request);
  say("bench " + f.request.bench_case + ": " + r.dump());
  print_json(f.common, r);
  return 0;
}

}  // namespace
void register_bench(CLI::App& app, std::vector<Command>& commands) {
  auto f = std::make_shared<BenchFlags>();
  auto* cmd = add_command(app, commands, "bench",
                          "Time a layer or a training step (JSON with medians)",
                          [f] { return run_bench(*f); });
  f->app = cmd;
  cmd->add_option("--case", f->request.bench_case,
                  "csc-layer | csc-ctrl-step | vdl-inference | sdnet-step")
      ->capture_default_str();
  cmd->add_option("--in", f->request.in, "csc-layer: input channels")->capture_default_str();
  cmd->add_option("--out", f->request.out, "csc-layer: code channels")->capture_default_str();
  cmd->add_option("--kernel", f->request.kernel, "csc-layer: kernel size")->capture_default_str();
  cmd->add_option("--stride", f->request.stride, "csc-layer: stride")->capture_default_str();
  cmd->add_option("--size", f->request.size, "image size")->capture_default_str();
  cmd->add_option("--batch", f->request.batch,
                  "batch size (0: csc-layer 32 on CPU / 128 on CUDA, csc-ctrl-step 64, vdl-inference 250, sdnet-step 128)")
      ->capture_default_str();
  cmd->add_option("--iterations", f->request.iterations,
                  "FISTA steps (0: csc-layer 10, csc-ctrl-step 2, vdl-inference 200)")
      ->capture_default_str();
  cmd->add_option("--repeats", f->request.repeats, "timed repetitions (the median is reported)")
      ->capture_default_str();
  cmd->add_option("--backward", f->request.backward,
                  "csc-layer: unrolled (autograd) | checkpointed (memory flat in steps) | implicit")
      ->capture_default_str();
  cmd->add_option("--checkpoints", f->request.checkpoints,
                  "csc-layer, --backward checkpointed: states held at once")
      ->capture_default_str();
  cmd->add_option("--model", f->request.model, "csc-ctrl-step: csc-ctrl | ctrl; sdnet-step: the model");
  cmd->add_option("--width", f->request.width,
                  "csc-ctrl-step: first-layer width; sdnet-step: base width (paper: 64)")
      ->capture_default_str();
  cmd->add_option("--channels", f->request.channels, "csc-ctrl-step: image channels")
      ->capture_default_str();
  cmd->add_flag("--no-reference", f->no_reference,
                "csc-layer: skip the conv_transpose2d reference timing; sdnet-step: skip "
                "the ResNet baseline");
  cmd->add_option("--profile", f->request.profile,
                  "write a Chrome trace of every operator the case runs to this file "
                  "(open in ui.perfetto.dev); the timings then include the profiler's overhead");
  add_common_flags(cmd, f->common, /*precision=*/true);
}

}  // namespace sparseloop::cli
