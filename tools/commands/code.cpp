// `sparseloop code`: a convolutional / linear LASSO solver (CLI.md).
#include <cmath>

#include "commands.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/metrics/image_quality.h"
#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/fista.h"
#include "sparseloop/sparse/linear_dictionary.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/util/error.h"

namespace sparseloop::cli {
namespace {

struct CodeFlags {
  CommonFlags common;
  std::string dictionary, input, output;
  double lambda = 0.1;
  int64_t iterations = 100;
  double tolerance = 0.0;
  std::string solver = "fista";
  int64_t stride = 1, padding = 0;
  bool nonnegative = false;
  double mu = 0.0;
  double step = 0.0;
};

torch::Tensor floating(const torch::Tensor& t, const std::string& what) {
  require(t.is_floating_point(), what + " must be floating point (F32 or F64), got " +
                                     std::string(c10::toString(t.scalar_type())));
  require(torch::isfinite(t).all().item<bool>(), what + " contains NaN or Inf");
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
}

int run_code(const CodeFlags& f) {
  const torch::Device device = apply_common_flags(f.common);
  require(f.lambda >= 0 && std::isfinite(f.lambda), "--lambda must be >= 0");
  require(f.iterations >= 1, "--iterations must be >= 1");
  require(f.tolerance >= 0, "--tolerance must be >= 0");
  require(f.step >= 0, "--step must be >= 0 (0 means 1/L)");
  require(f.mu >= 0, "--mu must be >= 0");

  auto dfile = load_safetensors(f.dictionary);
  auto xfile = load_safetensors(f.input);
  auto weight = floating(dfile.get("weight"), f.dictionary + ": 'weight'");
  auto x = floating(xfile.get("x"), f.input + ": 'x'");
  const auto dtype = (weight.scalar_type() == torch::kDouble || x.scalar_type() == torch::kDouble)
                         ? torch::kDouble
                         : torch::kFloat;
  weight = weight.to(device, dtype);
  x = x.to(device, dtype);

  SparseOperator op;
  if (weight.dim() == 4) {
    require(weight.size(2) == weight.size(3),
            f.dictionary + ": 'weight' must have square kernels (C, M, k, k)");
    require(x.dim() == 4 && x.size(1) == weight.size(1),
            f.input + ": 'x' must be (B, " + std::to_string(weight.size(1)) +
                ", H, W) to match the dictionary's " + std::to_string(weight.size(1)) +
                " input channels");
    require(f.stride >= 1, "--stride must be >= 1");
    require(f.padding >= 0, "--padding must be >= 0");
    const int64_t k = weight.size(2);
    require(x.size(2) + 2 * f.padding >= k && x.size(3) + 2 * f.padding >= k,
            f.input + ": images smaller than the kernel " + std::to_string(k) +
                " (with --padding " + std::to_string(f.padding) + ")");
    op = conv_operator(weight, ConvGeometry{f.stride, f.padding}, x.size(2), x.size(3));
  } else if (weight.dim() == 2) {
    require(x.dim() == 2 && x.size(1) == weight.size(1),
            f.input + ": 'x' must be (B, " + std::to_string(weight.size(1)) +
                ") to match the dictionary (C, d)");
    op = linear_operator(weight);
  } else {
    throw InputError(f.dictionary + ": 'weight' must be 4-D (C, M, k, k) or 2-D (C, d)");
  }
  require(x.size(0) >= 1, f.input + ": 'x' holds no samples");

  torch::NoGradGuard no_grad;
  // L = ‖D‖² by power iteration on one code-shaped sample, run to convergence.
  auto code_shape = op.analysis(x.narrow(0, 0, 1)).sizes().vec();
  auto v = power_iteration_start(code_shape, x.options());
  auto pi = power_iteration(op, v, 5000, 1e-9);
  require(pi.lipschitz > 0, f.dictionary + ": the dictionary is all zeros");
  // Power iteration approaches L from below; a 0.1% margin keeps η ≤ 1/L.
  const double lipschitz = pi.lipschitz * 1.001;
  const double step = f.step > 0 ? f.step : 1.0 / lipschitz;
  Prox prox(ProxOptions().lambda(f.lambda).mu(f.mu).nonnegative(f.nonnegative));
  auto opts = FistaOptions().step(step).momentum(f.solver == "fista");
  if (f.tolerance > 0)
    opts.tolerance(f.tolerance).max_steps(f.iterations);
  else
    opts.steps(f.iterations);
  auto result = fista(op, x, prox, opts);
  auto x_hat = op.synthesis(result.z);
  require(torch::isfinite(result.z).all().item<bool>(),
          "the solver diverged (NaN/Inf); is --step larger than 1/L = " +
              std::to_string(1.0 / lipschitz) + "?");

  save_safetensors(f.output, {{"z", result.z}, {"x_hat", x_hat}},
                   {{"lambda", std::to_string(f.lambda)},
                    {"solver", f.solver},
                    {"iterations", std::to_string(result.iterations)}});
  const double objective = lasso_objective(op, x, result.z, prox).sum().item<double>();
  const double sparsity = (result.z == 0).to(torch::kDouble).mean().item<double>();
  const double range = (x.max() - x.min()).item<double>();
  const double psnr_db = psnr(x_hat, x, range > 0 ? range : 1.0);
  const double kkt = kkt_violation(op, x, result.z, prox);
  say("code: " + std::to_string(result.iterations) + " iterations, objective " +
      std::to_string(objective) + ", sparsity " + std::to_string(sparsity) + ", PSNR " +
      std::to_string(psnr_db) + " dB, KKT violation " + std::to_string(kkt) + " -> " + f.output);
  print_json(f.common, {{"objective", objective},
                        {"sparsity", sparsity},
                        {"psnr", psnr_db},
                        {"iterations", result.iterations},
                        {"lipschitz", lipschitz},
                        {"step", step},
                        {"kkt_violation", kkt}});
  return 0;
}

}  // namespace

void register_code(CLI::App& app, std::vector<Command>& commands) {
  auto f = std::make_shared<CodeFlags>();
  auto* cmd = add_command(app, commands, "code",
                          "Solve min_z ½‖x − Dz‖² + λ‖z‖₁ per sample (convolutional or linear "
                          "dictionary)",
                          [f] { return run_code(*f); });
  cmd->add_option("--dictionary", f->dictionary,
                  "safetensors file with 'weight': (C, M, k, k) conv or (C, d) linear")
      ->required();
  cmd->add_option("--input", f->input, "safetensors file with 'x': (B, M, H, W) or (B, d)")
      ->required();
  cmd->add_option("--output", f->output, "safetensors file to write 'z' and 'x_hat'")->required();
  cmd->add_option("--lambda", f->lambda, "ℓ1 weight λ")->capture_default_str();
  cmd->add_option("--iterations", f->iterations,
                  "iterations (the cap when --tolerance > 0)")
      ->capture_default_str();
  cmd->add_option("--tolerance", f->tolerance,
                  "stop a sample when its relative change falls below this (0: never)")
      ->capture_default_str();
  cmd->add_option("--solver", f->solver, "fista | ista")
      ->capture_default_str()
      ->check(CLI::IsMember({"fista", "ista"}));
  cmd->add_option("--stride", f->stride, "convolution stride")->capture_default_str();
  cmd->add_option("--padding", f->padding, "convolution zero padding")->capture_default_str();
  cmd->add_flag("--nonnegative", f->nonnegative, "constrain z ≥ 0");
  cmd->add_option("--mu", f->mu, "elastic-net weight μ (adds μ/2‖z‖²)")->capture_default_str();
  cmd->add_option("--step", f->step, "step size (0: 1/L by power iteration)")
      ->capture_default_str();
  add_common_flags(cmd, f->common);
}

}  // namespace sparseloop::cli
