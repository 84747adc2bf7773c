#include "sparseloop/sparse/proximal_gradient.h"

#include <gtest/gtest.h>

#include "sparseloop/sparse/lasso.h"
#include "sparseloop/sparse/linear_dictionary.h"

using namespace sparseloop;

// On CUDA the freeze rule's stop test is read every 8 iterations and
// converged samples are masked, not dropped: the same solve as the CPU's
// (which reads every iteration and shrinks the batch), to rounding, with the
// same per-sample counts and iterations.
TEST(GpuFista, DeferredStopMatchesTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(14);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  auto W = torch::randn({40, 16}, f64);
  auto x = torch::randn({7, 16}, f64);
  x[2] *= 1e-4;
  const double L = torch::linalg_svdvals(W).max().item<double>();
  Prox prox(ProxOptions().lambda(0.2));
  auto opts = ProximalGradientOptions().step(1.0 / (L * L)).tolerance(1e-7).iterations(5000);
  auto cpu = solve_lasso(linear_operator(W), x, prox, opts);
  auto cuda = solve_lasso(linear_operator(W.cuda()), x.cuda(), prox, opts);
  EXPECT_LE((cuda.z.cpu() - cpu.z).abs().max().item<double>(), 1e-10);
  EXPECT_TRUE(torch::equal(cuda.sample_iterations, cpu.sample_iterations));
  EXPECT_EQ(cuda.iterations, cpu.iterations);
}
