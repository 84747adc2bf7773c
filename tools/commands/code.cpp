// `sparseloop code`: a convolutional / linear LASSO solver (docs/cli.md):
// flags → engine/code.h.
#include "commands.h"
#include "sparseloop/engine/code.h"

namespace sparseloop::cli {
namespace {

struct CodeFlags {
  CommonFlags common;
  CodeRequest request;
};

int run_code(CodeFlags& f) {
  f.request.device = apply_common_flags(f.common);
  print_json(f.common, code_files(f.request));
  return 0;
}

}  // namespace

void register_code(CLI::App& app, std::vector<Command>& commands) {
  auto f = std::make_shared<CodeFlags>();
  auto* cmd = add_command(app, commands, "code",
                          "Solve min_z ½‖x − Dz‖² + λ‖z‖₁ per sample (convolutional or linear "
                          "dictionary)",
                          [f] { return run_code(*f); });
  cmd->add_option("--dictionary", f->request.dictionary,
                  "safetensors file with 'weight': (C, M, k, k) conv or (C, d) linear")
      ->required();
  cmd->add_option("--input", f->request.input, "safetensors file with 'x': (B, M, H, W) or (B, d)")
      ->required();
  cmd->add_option("--output", f->request.output, "safetensors file to write 'z' and 'x_hat'")->required();
  cmd->add_option("--lambda", f->request.lambda, "ℓ1 weight λ")->capture_default_str();
  cmd->add_option("--iterations", f->request.iterations,
                  "iterations (cd: sweeps; the cap when --tolerance > 0 or with cd)")
      ->capture_default_str();
  cmd->add_option("--tolerance", f->request.tolerance,
                  "fista/ista: stop a sample when its relative change falls below this (0: "
                  "never); cd: when its KKT violation relative to ‖Dᵀx‖_∞ does (0: at a fixed "
                  "point)")
      ->capture_default_str();
  cmd->add_option("--solver", f->request.solver,
                  "fista | ista | cd (coordinate descent, linear dictionaries, CPU)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fista", "ista", "cd"}));
  cmd->add_option("--stride", f->request.stride, "convolution stride")->capture_default_str();
  cmd->add_option("--padding", f->request.padding, "convolution zero padding")->capture_default_str();
  cmd->add_flag("--nonnegative", f->request.nonnegative, "constrain z ≥ 0");
  cmd->add_option("--mu", f->request.mu, "elastic-net weight μ (adds μ/2‖z‖²)")->capture_default_str();
  cmd->add_option("--step", f->request.step, "step size (0: 1/L by power iteration)")
      ->capture_default_str();
  add_common_flags(cmd, f->common);
}

}  // namespace sparseloop::cli
