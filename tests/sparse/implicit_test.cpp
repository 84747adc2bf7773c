// The implicit-differentiation backward of a converged LASSO solution
// (sparse/implicit.h), checked in float64 against two independent references:
//   1. central differences of ℓ(z*(x, D)) where z* is re-solved to machine
//      accuracy at every perturbed point (the support is checked to be the
//      same at every perturbed point, so the derivative exists and the
//      backward is exact there);
//   2. autograd through a long unrolled FISTA solve.
// For linear and convolutional dictionaries, signed and non-negative codes,
// with and without the ridge μ, for the input x and for the dictionary.
#include "sparseloop/sparse/implicit.h"

#include <gtest/gtest.h>

#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/lasso.h"
#include "sparseloop/sparse/linear_dictionary.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/sparse/prox.h"

using namespace sparseloop;

namespace {

const auto f64 = torch::TensorOptions().dtype(torch::kDouble);

/// One LASSO problem family: a dictionary kind and its signal geometry.
struct Problem {
  bool conv = false;
  ConvGeometry g;
  int64_t h = 0, w = 0;  // signal size (conv)

  SparseOperator op(const torch::Tensor& dict) const {
    return conv ? conv_operator(dict, g, h, w) : linear_operator(dict);
  }
  torch::Tensor implicit(const torch::Tensor& z, const torch::Tensor& x, const torch::Tensor& dict,
                         const ImplicitOptions& o) const {
    return conv ? implicit_conv_lasso(z, x, dict, g, o) : implicit_linear_lasso(z, x, dict, o);
  }
};

struct Case {
  Problem p;
  torch::Tensor x, dict, weights;  // weights: the loss's linear term
  double lambda = 0, mu = 0;
  bool nonnegative = false;
  double step = 0;  // FISTA step (0.95 / L at the base point)

  Prox prox() const {
    return Prox(ProxOptions().lambda(lambda).mu(mu).nonnegative(nonnegative));
  }
  ImplicitOptions implicit_options() const {
    return ImplicitOptions().mu(mu).nonnegative(nonnegative).cg_iterations(500).cg_tolerance(1e-14);
  }
};

/// A scalar loss with a nontrivial upstream gradient w + z.
torch::Tensor loss_of(const torch::Tensor& z, const torch::Tensor& weights) {
  return (weights * z).sum() + 0.5 * z.pow(2).sum();
}

constexpr int64_t kMaxSolveSteps = 20000;

/// z*(x, D) to machine accuracy: FISTA in tolerance mode with a tight
/// tolerance, warm-started (at the base point's solution when given).
torch::Tensor solve(const Case& c, const torch::Tensor& x, const torch::Tensor& dict,
                    const torch::Tensor& warm = {}) {
  torch::NoGradGuard no_grad;
  auto r = solve_lasso(c.p.op(dict), x, c.prox(),
                 ProximalGradientOptions().step(c.step).tolerance(1e-15).iterations(kMaxSolveSteps), warm);
  EXPECT_LT(r.iterations, kMaxSolveSteps) << "the solve did not converge";
  return r.z;
}

torch::Tensor support(const Case& c, const torch::Tensor& z) {
  return c.nonnegative ? z > 0 : z != 0;
}

/// Strict complementarity margin of z (the smaller of min |z| on the support
/// and λ minus the largest optimality residual off it): > 0 means the support
/// cannot change under small perturbations.
double margin(const Case& c, const torch::Tensor& z) {
  torch::NoGradGuard no_grad;
  auto op = c.p.op(c.dict);
  auto r = op.analysis(c.x - op.synthesis(z)) - c.mu * z;
  auto on = support(c, z);
  auto off = on.logical_not();
  const double on_min = z.abs().masked_select(on).min().item<double>();
  auto r_off = r.masked_select(off);
  const double off_max = (c.nonnegative ? r_off : r_off.abs()).max().item<double>();
  return std::min(on_min, c.lambda - off_max);
}

double lipschitz_of(const Case& c) {
  const auto code = c.p.op(c.dict).analysis(c.x.narrow(0, 0, 1));  // one sample's code
  auto v = power_iteration_start(code.sizes(), f64);
  return power_iteration(c.p.op(c.dict), v, 5000, 1e-15).lipschitz;
}

Case make_case(bool conv, bool nonnegative, double mu, uint64_t seed) {
  torch::manual_seed(seed);
  Case c;
  c.nonnegative = nonnegative;
  c.mu = mu;
  if (conv) {
    // 3 atoms of 2 × 3 × 3, stride 2, padding 1 on 6 × 6 signals: 27 code
    // entries per 72-dimensional signal (D has full column rank), and the
    // synthesis needs output padding (6 ≠ the natural 5).
    c.p = Problem{true, ConvGeometry{2, 1}, 6, 6};
    c.dict = torch::randn({3, 2, 3, 3}, f64);
    c.dict = c.dict / c.dict.flatten(1).norm(2, 1).view({-1, 1, 1, 1});
    c.x = torch::randn({2, 2, 6, 6}, f64);
  } else {
    // 10 atoms in R^16.
    c.p = Problem{};
    c.dict = torch::randn({10, 16}, f64);
    c.dict = c.dict / c.dict.norm(2, 1, true);
    c.x = torch::randn({3, 16}, f64);
  }
  c.lambda = 0.6;
  c.step = 0.95 / lipschitz_of(c);
  c.weights = torch::randn(c.p.op(c.dict).analysis(c.x).sizes(), f64);
  return c;
}

std::string describe(const Case& c) {
  return std::string(c.p.conv ? "conv" : "linear") + (c.nonnegative ? " non-negative" : " signed") +
         " mu " + std::to_string(c.mu);
}

/// Gradients of ℓ(z*) by the implicit backward, for x and the dictionary.
std::pair<torch::Tensor, torch::Tensor> implicit_gradients(const Case& c, const torch::Tensor& z) {
  auto x = c.x.clone().requires_grad_(true);
  auto d = c.dict.clone().requires_grad_(true);
  auto zi = c.p.implicit(z, x, d, c.implicit_options());
  EXPECT_TRUE(torch::equal(zi.detach(), z));  // the forward is the identity on z*
  auto g = torch::autograd::grad({loss_of(zi, c.weights)}, {x, d});
  return {g[0], g[1]};
}

/// Max |analytic − central difference| / max |central difference| over
/// `count` coordinates spread over x (which = 0) or the dictionary
/// (which = 1); every perturbed point is re-solved and must keep the base
/// point's support.
double finite_difference_error(const Case& c, const torch::Tensor& z, const torch::Tensor& analytic,
                               int which, int64_t count, double h) {
  const torch::Tensor& base = which == 0 ? c.x : c.dict;
  const int64_t n = base.numel();
  count = std::min(count, n);
  const auto s = support(c, z);
  double worst = 0, scale = 0;
  for (int64_t k = 0; k < count; ++k) {
    const int64_t i = (k * n) / count + (k * 7) % std::max<int64_t>(1, n / count);
    double value[2];
    for (int sign = 0; sign < 2; ++sign) {
      auto t = base.clone();
      t.view(-1)[i] += sign == 0 ? h : -h;
      auto zp = which == 0 ? solve(c, t, c.dict, z) : solve(c, c.x, t, z);
      EXPECT_TRUE(torch::equal(support(c, zp), s))
          << describe(c) << ": the support changed at coordinate " << i << " of "
          << (which == 0 ? "x" : "D");
      value[sign] = loss_of(zp, c.weights).item<double>();
    }
    const double numeric = (value[0] - value[1]) / (2 * h);
    worst = std::max(worst, std::abs(numeric - analytic.view(-1)[i].item<double>()));
    scale = std::max(scale, std::abs(numeric));
  }
  EXPECT_GT(scale, 1e-3) << describe(c) << ": the checked gradient entries are all ~0";
  return worst / std::max(scale, 1e-300);
}

void check_against_finite_differences(bool conv) {
  uint64_t seed = conv ? 11 : 3;
  for (bool nonneg : {false, true}) {
    for (double mu : {0.0, 0.25}) {
      const Case c = make_case(conv, nonneg, mu, seed++);
      const auto z = solve(c, c.x, c.dict);
      // A converged solution with a nontrivial support and a clear margin.
      EXPECT_LT(kkt_violation(c.p.op(c.dict), c.x, z, c.prox()), 1e-11) << describe(c);
      const double fraction = support(c, z).to(torch::kDouble).mean().item<double>();
      EXPECT_GT(fraction, 0.15) << describe(c);
      EXPECT_LT(fraction, 0.85) << describe(c);
      EXPECT_GT(margin(c, z), 1e-3) << describe(c);

      const auto [gx, gd] = implicit_gradients(c, z);
      // z* is affine in x on a fixed support, so the only error left is the
      // solver's; in D it is smooth (O(h²) truncation).
      EXPECT_LT(finite_difference_error(c, z, gx, 0, 12, 1e-5), 1e-6) << describe(c) << " (x)";
      EXPECT_LT(finite_difference_error(c, z, gd, 1, 12, 1e-5), 1e-6) << describe(c) << " (D)";
    }
  }
}

void check_against_unrolled_autograd(bool conv) {
  uint64_t seed = conv ? 11 : 3;
  for (bool nonneg : {false, true}) {
    for (double mu : {0.0, 0.25}) {
      const Case c = make_case(conv, nonneg, mu, seed++);
      const auto z = solve(c, c.x, c.dict);
      const auto [gx, gd] = implicit_gradients(c, z);

      auto x = c.x.clone().requires_grad_(true);
      auto d = c.dict.clone().requires_grad_(true);
      // The step is a constant (z* does not depend on it); only the
      // iterations carry gradients.
      auto zu = solve_lasso(c.p.op(d), x, c.prox(), ProximalGradientOptions().step(c.step).iterations(1000)).z;
      EXPECT_LT((zu.detach() - z).abs().max().item<double>(), 1e-12) << describe(c);
      auto g = torch::autograd::grad({loss_of(zu, c.weights)}, {x, d});
      auto rel = [](const torch::Tensor& a, const torch::Tensor& b) {
        return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
      };
      EXPECT_GT(g[0].abs().max().item<double>(), 1e-2) << describe(c);
      EXPECT_GT(g[1].abs().max().item<double>(), 1e-2) << describe(c);
      EXPECT_LT(rel(gx, g[0]), 1e-8) << describe(c) << " (x)";
      EXPECT_LT(rel(gd, g[1]), 1e-8) << describe(c) << " (D)";
    }
  }
}

}  // namespace

TEST(ImplicitLasso, LinearMatchesFiniteDifferencesOfTheResolvedSolution) {
  check_against_finite_differences(false);
}

TEST(ImplicitLasso, ConvMatchesFiniteDifferencesOfTheResolvedSolution) {
  check_against_finite_differences(true);
}

TEST(ImplicitLasso, LinearMatchesAutogradThroughALongUnrolledSolve) {
  check_against_unrolled_autograd(false);
}

TEST(ImplicitLasso, ConvMatchesAutogradThroughALongUnrolledSolve) {
  check_against_unrolled_autograd(true);
}

// Gradients reach only what asks for them, and the default conjugate-gradient
// budget (50 iterations, 1e-6) is already close to the exact backward.
TEST(ImplicitLasso, DefaultConjugateGradientBudgetAndPartialGradients) {
  const Case c = make_case(true, false, 0.0, 11);
  const auto z = solve(c, c.x, c.dict);
  const auto [gx, gd] = implicit_gradients(c, z);
  auto x = c.x.clone().requires_grad_(true);
  auto zi = implicit_conv_lasso(z, x, c.dict, c.p.g, ImplicitOptions());
  auto g = torch::autograd::grad({loss_of(zi, c.weights)}, {x})[0];
  EXPECT_LT((g - gx).abs().max().item<double>() / gx.abs().max().item<double>(), 1e-4);
  auto d = c.dict.clone().requires_grad_(true);
  zi = implicit_conv_lasso(z, c.x, d, c.p.g, ImplicitOptions());
  loss_of(zi, c.weights).backward();
  ASSERT_TRUE(d.grad().defined());
  EXPECT_LT((d.grad() - gd).abs().max().item<double>() / gd.abs().max().item<double>(), 1e-4);
}

// On a device the CG stop test is read every 4 iterations (cg_check_every 0);
// the iterations past a system's convergence only refine it. Any period gives
// the exact backward to the tolerance, also when systems converge long before
// the read (a small support: CG is exact in as many iterations as its size).
TEST(ImplicitLasso, DeferredConjugateGradientReadsStayExact) {
  for (bool conv : {false, true}) {
    const Case c = make_case(conv, false, 0.25, conv ? 11 : 3);
    const auto z = solve(c, c.x, c.dict);
    const auto [gx, gd] = implicit_gradients(c, z);
    for (int64_t every : {1, 3, 8, 1000}) {
      auto x = c.x.clone().requires_grad_(true);
      auto d = c.dict.clone().requires_grad_(true);
      auto zi = c.p.implicit(z, x, d, c.implicit_options().cg_tolerance(1e-12).cg_check_every(every));
      auto g = torch::autograd::grad({loss_of(zi, c.weights)}, {x, d});
      for (int i : {0, 1}) {
        const auto& exact = i == 0 ? gx : gd;
        ASSERT_TRUE(torch::isfinite(g[i]).all().item<bool>()) << "period " << every;
        EXPECT_LT((g[i] - exact).abs().max().item<double>() / exact.abs().max().item<double>(), 1e-9)
            << (conv ? "conv" : "linear") << ", period " << every << (i == 0 ? " (x)" : " (D)");
      }
    }
  }
  const Case c = make_case(false, false, 0.0, 3);
  const auto z = solve(c, c.x, c.dict);
  auto x = c.x.clone().requires_grad_(true);
  EXPECT_THROW(c.p.implicit(z, x, c.dict, c.implicit_options().cg_check_every(-1)), c10::Error);
}
