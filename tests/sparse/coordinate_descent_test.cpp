#include "sparseloop/sparse/coordinate_descent.h"

#include <gtest/gtest.h>

#include "sparseloop/sparse/lasso.h"
#include "sparseloop/sparse/linear_dictionary.h"
#include "sparseloop/sparse/lipschitz.h"

using namespace sparseloop;

namespace {
auto f64 = torch::TensorOptions().dtype(torch::kDouble);

struct Linear {
  torch::Tensor W, x, gram, b;
  SparseOperator op;
};

// An overcomplete dictionary (k = 24 atoms of d = 12 values) and 6 samples.
Linear problem(int64_t seed, torch::ScalarType dtype = torch::kDouble) {
  torch::manual_seed(seed);
  Linear p;
  p.W = torch::randn({24, 12}, f64).to(dtype);
  p.x = torch::randn({6, 12}, f64).to(dtype);
  p.op = linear_operator(p.W);
  p.gram = torch::mm(p.W, p.W.t());  // (k, k)
  p.b = linear_analysis(p.x, p.W);   // (B, k)
  return p;
}

// The existing solver run to convergence: FISTA, float64, 1/L step.
torch::Tensor fista_reference(const Linear& p, const Prox& prox) {
  auto v = power_iteration_start({1, p.W.size(0)}, f64);
  const double L = power_iteration(p.op, v, 5000, 1e-14).lipschitz * 1.0001;
  return solve_lasso(p.op, p.x, prox, ProximalGradientOptions().step(1.0 / L).iterations(20000)).z;
}
}  // namespace

// Same minimizer as FISTA in float64: objectives equal to 1e-10 (relative),
// KKT satisfied to rounding, for the signed, non-negative and elastic-net LASSO.
TEST(CoordinateDescent, MatchesFistaObjectiveAndKkt) {
  auto p = problem(3);
  for (bool nonneg : {false, true}) {
    for (double mu : {0.0, 0.2}) {
      ProxOptions po = ProxOptions().lambda(0.7).mu(mu).nonnegative(nonneg);
      Prox prox(po);
      auto cd = coordinate_descent_lasso(p.gram, p.b, po, CoordinateDescentOptions());
      auto z_ref = fista_reference(p, prox);
      const double obj_cd = lasso_objective(p.op, p.x, cd.z, prox).sum().item<double>();
      const double obj_ref = lasso_objective(p.op, p.x, z_ref, prox).sum().item<double>();
      EXPECT_NEAR(obj_cd, obj_ref, 1e-10 * std::abs(obj_ref)) << nonneg << " " << mu;
      EXPECT_LE(obj_cd, obj_ref + 1e-12 * std::abs(obj_ref));
      EXPECT_LT(kkt_violation(p.op, p.x, cd.z, prox), 1e-12);
      EXPECT_LT(cd.kkt.max().item<double>(), 1e-12);
      if (nonneg) {
        EXPECT_GE(cd.z.min().item<double>(), 0.0);
      }
      EXPECT_LT((cd.z - z_ref).abs().max().item<double>(), 1e-6);
      EXPECT_LT(cd.sweeps.max().item<int64_t>(), 1000);  // stopped at a fixed point, not the cap
    }
  }
}

// A tolerance stops each sample once its own KKT violation is under it.
TEST(CoordinateDescent, ToleranceStopsEarlyWithTheReportedViolation) {
  auto p = problem(4);
  ProxOptions po = ProxOptions().lambda(0.3);
  auto exact = coordinate_descent_lasso(p.gram, p.b, po, CoordinateDescentOptions());
  auto loose =
      coordinate_descent_lasso(p.gram, p.b, po, CoordinateDescentOptions().tolerance(1e-3));
  EXPECT_LE(loose.kkt.max().item<double>(), 1e-3);
  EXPECT_LE(loose.sweeps.sum().item<int64_t>(), exact.sweeps.sum().item<int64_t>());
  // The reported violation is the library's measure, per sample (scale ‖b_i‖_∞).
  for (int64_t i = 0; i < p.x.size(0); ++i) {
    auto xi = p.x.narrow(0, i, 1), zi = loose.z.narrow(0, i, 1);
    EXPECT_NEAR(loose.kkt[i].item<double>(), kkt_violation(p.op, xi, zi, Prox(po)), 1e-12);
  }
  auto capped =
      coordinate_descent_lasso(p.gram, p.b, po, CoordinateDescentOptions().max_sweeps(1));
  EXPECT_EQ(capped.sweeps.max().item<int64_t>(), 1);
}

// A zero atom keeps a zero code; a zero signal has the zero code.
TEST(CoordinateDescent, ZeroAtomAndZeroSignal) {
  auto p = problem(5);
  p.W[3].zero_();
  p.x[2].zero_();
  p.gram = torch::mm(p.W, p.W.t());
  p.b = linear_analysis(p.x, p.W);
  // λ large enough for supports under d = 12 atoms: with more (a degenerate
  // LASSO, G_SS singular) coordinate descent crawls (λ 0.1: one sample still
  // at a KKT violation of 9e-5 after 1000 sweeps; docs/performance.md).
  ProxOptions po = ProxOptions().lambda(0.5);
  auto cd = coordinate_descent_lasso(p.gram, p.b, po, CoordinateDescentOptions());
  EXPECT_EQ(cd.z.select(1, 3).abs().max().item<double>(), 0.0);
  EXPECT_EQ(cd.z[2].abs().max().item<double>(), 0.0);
  EXPECT_EQ(cd.sweeps[2].item<int64_t>(), 0);
  EXPECT_LT(kkt_violation(p.op, p.x, cd.z, Prox(po)), 1e-12);
}

// float32 reaches the float64 minimizer to float precision.
TEST(CoordinateDescent, Float32AgreesWithFloat64) {
  auto p64 = problem(6);
  auto p32 = problem(6, torch::kFloat);
  ProxOptions po = ProxOptions().lambda(0.5);
  auto z64 = coordinate_descent_lasso(p64.gram, p64.b, po, CoordinateDescentOptions()).z;
  auto z32 = coordinate_descent_lasso(p32.gram, p32.b, po, CoordinateDescentOptions()).z;
  EXPECT_EQ(z32.scalar_type(), torch::kFloat);
  EXPECT_LT((z32.to(torch::kDouble) - z64).norm().item<double>() / z64.norm().item<double>(), 1e-4);
}

// The Gram form of FISTA takes the same iterates as the operator form.
TEST(LassoGram, SameIteratesAsTheOperatorForm) {
  auto p = problem(7);
  Prox prox(ProxOptions().lambda(0.4));
  auto opts = ProximalGradientOptions().step(0.01).iterations(37);
  auto z_op = solve_lasso(p.op, p.x, prox, opts).z;
  auto z_gram = proximal_gradient(lasso_gram_smooth_part(p.gram, p.b), prox, opts).z;
  EXPECT_LT((z_op - z_gram).abs().max().item<double>(), 1e-12);
  // With a tolerance (converged samples leave the batch through `restrict`).
  auto tol = opts.iterations(5000).tolerance(1e-10);
  auto r_op = solve_lasso(p.op, p.x, prox, tol);
  auto r_gram = proximal_gradient(lasso_gram_smooth_part(p.gram, p.b), prox, tol);
  EXPECT_LT((r_op.z - r_gram.z).abs().max().item<double>(), 1e-9);
  EXPECT_TRUE(torch::equal(r_op.sample_iterations, r_gram.sample_iterations) ||
              (r_op.sample_iterations - r_gram.sample_iterations).abs().max().item<int64_t>() <= 1);
}
