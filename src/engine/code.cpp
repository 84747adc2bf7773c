#include "sparseloop/engine/code.h"

#include <cmath>

#include "sparseloop/io/safetensors.h"
#include "sparseloop/metrics/image_quality.h"
#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/coordinate_descent.h"
#include "sparseloop/sparse/lasso.h"
#include "sparseloop/sparse/linear_dictionary.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/log.h"
#include "sparseloop/util/output_path.h"
#include "sparseloop/util/timing.h"

namespace sparseloop {
namespace {

torch::Tensor floating(const torch::Tensor& t, const std::string& what) {
  require(t.is_floating_point(), what + " must be floating point (F32 or F64), got " +
                                     std::string(c10::toString(t.scalar_type())));
  require(torch::isfinite(t).all().item<bool>(), what + " contains NaN or Inf");
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
}

std::string shape_text(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

}  // namespace

nlohmann::json code_files(const CodeRequest& f) {
  const torch::Device device = f.device;
  // Every flag and the output path before any file is read or any work
  // done; a non-finite --step or --mu once reached the solver (exit 1, or
  // NaN codes written with exit 0).
  require(f.lambda >= 0 && std::isfinite(f.lambda), "--lambda must be >= 0");
  require(f.iterations >= 1, "--iterations must be >= 1");
  require(f.tolerance >= 0 && std::isfinite(f.tolerance), "--tolerance must be >= 0");
  require(f.step >= 0 && std::isfinite(f.step), "--step must be >= 0 (0 means 1/L)");
  require(f.mu >= 0 && std::isfinite(f.mu), "--mu must be >= 0");
  require(f.stride >= 1, "--stride must be >= 1");
  require(f.padding >= 0, "--padding must be >= 0");
  require(f.solver == "fista" || f.solver == "ista" || f.solver == "cd",
          "--solver " + f.solver + ": expected fista, ista or cd");
  require_writable_file_path(f.output, "--output");

  auto dfile = load_safetensors(f.dictionary);
  auto xfile = load_safetensors(f.input);
  auto weight = floating(dfile.get("weight"), f.dictionary + ": 'weight'");
  auto x = floating(xfile.get("x"), f.input + ": 'x'");
  // An empty dimension (no atoms, a 0×0 kernel) reached LibTorch's
  // convolution as a c10::Error (exit 1).
  for (int64_t s : weight.sizes())
    require(s >= 1, f.dictionary + ": 'weight' has an empty dimension (shape " +
                        shape_text(weight) + ")");
  require(x.dim() < 1 || x.size(0) >= 1, f.input + ": 'x' holds no samples");
  for (int64_t s : x.sizes())
    require(s >= 1, f.input + ": 'x' has an empty dimension (shape " + shape_text(x) + ")");
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
    const int64_t k = weight.size(2);
    // A code position further out sees only zero padding (its code is 0),
    // and a huge padding asked for terabytes.
    require(f.padding < k, "--padding " + std::to_string(f.padding) +
                               ": must be below the kernel size " + std::to_string(k));
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

  require(f.solver != "cd" || weight.dim() == 2,
          "--solver cd needs a linear (C, d) dictionary; use fista or ista for a convolutional one");
  require(f.solver != "cd" || device.is_cpu(), "--solver cd runs on the CPU only");

  torch::NoGradGuard no_grad;
  // The solve's own time (Gram, step size, iterations), without reading and
  // writing files: what a side-by-side with another solver compares.
  const double solve_start = now_ms();
  Prox prox(ProxOptions().lambda(f.lambda).mu(f.mu).nonnegative(f.nonnegative));
  // The Gram form of a linear dictionary W (k atoms of d values): G = DᵀD =
  // WWᵀ (k, k) and b = Dᵀx (B, k) once, then each FISTA step is one
  // (B×k)·(k×k) product instead of two (B×k)·(k×d) ones, and coordinate
  // descent works on G alone. Worth it when k < 2d (k² < 2kd per sample).
  const bool linear = weight.dim() == 2;
  const bool gram_form = linear && (f.solver == "cd" || weight.size(0) < 2 * weight.size(1));
  torch::Tensor gram, b;
  if (gram_form) {
    gram = torch::mm(weight, weight.t());  // (k, d)(d, k) → (k, k)
    b = op.analysis(x);                    // (B, k)
  }
  double lipschitz = 0.0, step = 0.0;
  torch::Tensor z;
  int64_t iterations = 0;
  double mean_iterations = 0.0;
  if (f.solver == "cd") {
    auto cd = coordinate_descent_lasso(
        gram, b, prox.options(),
        CoordinateDescentOptions().max_sweeps(f.iterations).tolerance(f.tolerance));
    z = cd.z;
    iterations = cd.sweeps.max().item<int64_t>();
    mean_iterations = cd.sweeps.to(torch::kDouble).mean().item<double>();
  } else {
    // L = ‖D‖² by power iteration on one code-shaped sample, run to convergence.
    auto code_shape = op.analysis(x.narrow(0, 0, 1)).sizes().vec();
    auto v = power_iteration_start(code_shape, x.options());
    auto pi = power_iteration(op, v, 5000, 1e-9);
    require(pi.lipschitz > 0, f.dictionary + ": the dictionary is all zeros");
    // Power iteration approaches L from below; a 0.1% margin keeps η ≤ 1/L.
    lipschitz = pi.lipschitz * 1.001;
    step = f.step > 0 ? f.step : 1.0 / lipschitz;
    auto opts = ProximalGradientOptions()
                    .step(step)
                    .iterations(f.iterations)
                    .tolerance(f.tolerance)
                    .momentum(f.solver == "fista" ? Momentum::kFista : Momentum::kNone);
    auto result = gram_form ? proximal_gradient(lasso_gram_smooth_part(gram, b), prox, opts)
                            : solve_lasso(op, x, prox, opts);
    require(torch::isfinite(result.z).all().item<bool>(),
            "the solver diverged (NaN/Inf); is --step larger than 1/L = " +
                std::to_string(1.0 / lipschitz) + "?");
    z = result.z;
    iterations = result.iterations;
    mean_iterations = result.sample_iterations.to(torch::kDouble).mean().item<double>();
  }
  const double solve_ms = now_ms() - solve_start;
  auto x_hat = op.synthesis(z);

  save_safetensors(f.output, {{"z", z}, {"x_hat", x_hat}},
                   {{"lambda", std::to_string(f.lambda)},
                    {"solver", f.solver},
                    {"iterations", std::to_string(iterations)}});
  const double objective = lasso_objective(op, x, z, prox).sum().item<double>();
  const double sparsity = (z == 0).to(torch::kDouble).mean().item<double>();
  const double range = (x.max() - x.min()).item<double>();
  const double psnr_db = psnr(x_hat, x, range > 0 ? range : 1.0);
  const double kkt = kkt_violation(op, x, z, prox);
  say("code: " + std::to_string(iterations) + " iterations, objective " +
      std::to_string(objective) + ", sparsity " + std::to_string(sparsity) + ", PSNR " +
      std::to_string(psnr_db) + " dB, KKT violation " + std::to_string(kkt) + " -> " + f.output);
  return {{"objective", objective}, {"sparsity", sparsity},   {"psnr", psnr_db},
          {"iterations", iterations}, {"lipschitz", lipschitz}, {"step", step},
          {"kkt_violation", kkt}, {"mean_iterations", mean_iterations}, {"solver", f.solver},
          {"gram_form", gram_form}, {"solve_ms", solve_ms}};
}


}  // namespace sparseloop
