// `sparseloop sweep`: the VDL family's sparsity–PSNR trade-off over λ
// (families/vdl/sweep.h).
#include <sstream>

#include "commands.h"
#include "sparseloop/families/vdl/sweep.h"
#include "sparseloop/util/signals.h"

namespace sparseloop::cli {
namespace {

struct SweepFlags {
  CommonFlags common;
  VdlSweepRequest request;
  std::string models = "sdl,vdl";
  std::string lambdas = "0.002,0.005,0.01,0.02,0.05";
  std::vector<std::string> options;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int run_sweep(SweepFlags& f) {
  VdlSweepRequest& r = f.request;
  r.models = split_list(f.models);
  r.lambdas = parse_number_list(f.lambdas, "--lambda");
  for (const auto& kv : f.options) {
    auto eq = kv.find('=');
    require(eq != std::string::npos && eq > 0,
            "--option '" + kv + "': expected KEY=VALUE (a `sparseloop train` flag without dashes)");
    r.options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  r.device = f.common.device;
  r.seed = f.common.seed;
  r.threads = f.common.threads;
  install_stop_handlers();
  try {
    print_json(f.common, vdl_sweep(r));
  } catch (const StopRequested& stop) {
    say("stopped by signal; run the same command again to continue the sweep");
    return stop.code();
  }
  return 0;
}

}  // namespace

void register_sweep(CLI::App& app, std::vector<Command>& commands) {
  auto f = std::make_shared<SweepFlags>();
  auto* cmd = add_command(app, commands, "sweep",
                          "Sparsity–PSNR trade-off of sdl/vdl models over λ (VDL paper, Fig. 4)",
                          [f] { return run_sweep(*f); });
  cmd->add_option("--models", f->models, "comma-separated: sdl, vdl, sdl-nl, vdl-nl")
      ->capture_default_str();
  cmd->add_option("--data", f->request.data, "mnist | patches (the preset <data>-<model> is used)")
      ->capture_default_str()
      ->check(CLI::IsMember({"mnist", "patches"}));
  cmd->add_option("--data-dir", f->request.data_dir, "dataset folder (default: the embedded data)");
  cmd->add_option("--lambda", f->lambdas, "comma-separated λ values")->capture_default_str();
  cmd->add_option("--out", f->request.out,
                  "folder for one run per (model, λ), sweep.json and sweep.png")
      ->required();
  cmd->add_option("--epochs", f->request.epochs, "epochs per run (0: the preset's)")
      ->capture_default_str();
  cmd->add_option("--max-steps", f->request.max_steps, "optimizer steps per run (0: use epochs)")
      ->capture_default_str();
  cmd->add_option("--option", f->options,
                  "KEY=VALUE: any `sparseloop train` flag for every run (repeatable), e.g. "
                  "patches-train=20000");
  add_common_flags(cmd, f->common);
}

}  // namespace sparseloop::cli
