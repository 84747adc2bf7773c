#include "sparseloop/sparse/lasso.h"

#include <gtest/gtest.h>

#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/linear_dictionary.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/util/precision.h"

using namespace sparseloop;

namespace {
auto f64 = torch::TensorOptions().dtype(torch::kDouble);

double lipschitz_of(const SparseOperator& op, at::IntArrayRef code_shape) {
  auto v = power_iteration_start(code_shape, f64);
  return power_iteration(op, v, 5000, 1e-12).lipschitz;
}

/// A random float64 linear LASSO: W (atoms × dim), then x (batch × dim), in
/// that order from `seed`, with the operator and its L.
struct LinearProblem {
  torch::Tensor W;
  SparseOperator op;
  double L = 0.0;
  torch::Tensor x;
};
LinearProblem random_linear_problem(uint64_t seed, int64_t atoms, int64_t dim, int64_t batch) {
  torch::manual_seed(seed);
  LinearProblem p;
  p.W = torch::randn({atoms, dim}, f64);
  p.op = linear_operator(p.W);
  p.L = lipschitz_of(p.op, {1, atoms});
  p.x = torch::randn({batch, dim}, f64);
  return p;
}

torch::Tensor orthonormal(int64_t n) {
  auto qr = torch::linalg_qr(torch::randn({n, n}, f64));
  return std::get<0>(qr);
}
}  // namespace

TEST(Prox, ClosedForms) {
  auto v = torch::tensor({-2.0, -0.5, 0.0, 0.3, 1.5}, f64);
  auto soft = Prox(ProxOptions().lambda(1.0))(v, 0.5);  // τ = 0.5
  EXPECT_TRUE(torch::allclose(soft, torch::tensor({-1.5, 0.0, 0.0, 0.0, 1.0}, f64)));
  auto nn = Prox(ProxOptions().lambda(1.0).nonnegative(true))(v, 0.5);
  EXPECT_TRUE(torch::allclose(nn, torch::tensor({0.0, 0.0, 0.0, 0.0, 1.0}, f64)));
  // Elastic net: argmin ½(z − v)² + η(λ|z| + μ/2 z²) = S_{ηλ}(v)/(1 + ημ).
  auto en = Prox(ProxOptions().lambda(1.0).mu(2.0))(v, 0.5);
  EXPECT_TRUE(torch::allclose(en, torch::tensor({-0.75, 0.0, 0.0, 0.0, 0.5}, f64)));
}

// For an orthonormal dictionary DᵀD = I and the LASSO solution is the prox of Dᵀx.
TEST(Fista, OrthonormalDictionaryClosedForm) {
  torch::manual_seed(0);
  auto Q = orthonormal(16);
  auto op = linear_operator(Q);
  auto x = torch::randn({5, 16}, f64);
  for (bool nonneg : {false, true}) {
    for (double mu : {0.0, 0.3}) {
      Prox prox(ProxOptions().lambda(0.4).mu(mu).nonnegative(nonneg));
      auto expected = prox(linear_analysis(x, Q), 1.0);
      auto z = solve_lasso(op, x, prox, ProximalGradientOptions().step(1.0).iterations(50)).z;
      EXPECT_LT((z - expected).abs().max().item<double>(), 1e-12);
    }
  }
}

// KKT optimality of the LASSO solution, linear and convolutional, signed and non-negative.
TEST(Fista, ReachesLassoMinimizerKkt) {
  auto [W, op, L, x] = random_linear_problem(1, 40, 20, 4);
  for (bool nonneg : {false, true}) {
    Prox prox(ProxOptions().lambda(0.5).nonnegative(nonneg));
    auto z = solve_lasso(op, x, prox, ProximalGradientOptions().step(1.0 / L).iterations(3000)).z;
    EXPECT_LT(kkt_violation(op, x, z, prox), 1e-5) << "nonneg " << nonneg;
    EXPECT_GT((z == 0).sum().item<int64_t>(), 0);  // sparse
  }
  auto Wc = torch::randn({6, 2, 3, 3}, f64);
  auto cop = conv_operator(Wc, ConvGeometry{1, 1}, 9, 9);
  const double Lc = lipschitz_of(cop, {1, 6, 9, 9});
  auto xc = torch::randn({2, 2, 9, 9}, f64);
  Prox prox(ProxOptions().lambda(0.3));
  auto zc = solve_lasso(cop, xc, prox, ProximalGradientOptions().step(1.0 / Lc).iterations(3000)).z;
  EXPECT_LT(kkt_violation(cop, xc, zc, prox), 1e-5);
}

TEST(Fista, RecoversPlantedSparseCode) {
  torch::manual_seed(2);
  const int64_t d = 64, C = 128;
  auto W = torch::randn({C, d}, f64);
  W = W / W.norm(2, 1, true);  // unit atoms
  auto op = linear_operator(W);
  auto z0 = torch::zeros({3, C}, f64);
  for (int64_t b = 0; b < 3; ++b) {
    auto idx = torch::randperm(C, torch::kLong).narrow(0, 0, 5);
    z0[b].index_put_({idx}, 1.0 + torch::rand({5}, f64));
  }
  auto x = linear_synthesis(z0, W);
  const double L = lipschitz_of(op, {1, C});
  Prox prox(ProxOptions().lambda(1e-3).nonnegative(true));
  auto z = solve_lasso(op, x, prox, ProximalGradientOptions().step(1.0 / L).tolerance(1e-10).iterations(20000)).z;
  EXPECT_LT(((z - z0).norm() / z0.norm()).item<double>(), 1e-2);
  EXPECT_TRUE(torch::equal(z.gt(0.1), z0.gt(0)));
}

TEST(Fista, ObjectiveBelowIstaAfterSameSteps) {
  torch::manual_seed(3);
  auto W = torch::randn({6, 3, 5, 5}, f64);
  auto op = conv_operator(W, ConvGeometry{1, 2}, 16, 16);
  const double L = lipschitz_of(op, {1, 6, 16, 16});
  auto x = torch::randn({4, 3, 16, 16}, f64);
  Prox prox(ProxOptions().lambda(0.1));
  auto opts = ProximalGradientOptions().step(1.0 / L).iterations(40);
  auto zf = solve_lasso(op, x, prox, opts).z;
  auto zi = solve_lasso(op, x, prox, ProximalGradientOptions(opts).momentum(Momentum::kNone)).z;
  EXPECT_LT(lasso_objective(op, x, zf, prox).sum().item<double>(),
            lasso_objective(op, x, zi, prox).sum().item<double>());
}

// Tolerance mode stops each sample on its own: the batch gives what each
// sample gives when solved alone, at the same step, and samples stop at
// different steps. Equal to rounding, not bit for bit: BLAS may sum a batch of
// one in another order than a batch of five (OpenBLAS on an AMD EPYC of
// December 2026 did, by 1 ulp-scale amounts).
TEST(Fista, PerSampleToleranceIsIndependentOfTheBatch) {
  auto [W, op, L, x] = random_linear_problem(4, 30, 12, 5);
  x[1] *= 1e-3;  // a tiny signal converges (to 0) at once
  Prox prox(ProxOptions().lambda(0.2));
  auto opts = ProximalGradientOptions().step(1.0 / L).tolerance(1e-6).iterations(5000);
  auto batch = solve_lasso(op, x, prox, opts);
  for (int64_t b = 0; b < 5; ++b) {
    auto alone = solve_lasso(op, x.narrow(0, b, 1), prox, opts);
    EXPECT_LE((alone.z[0] - batch.z[b]).abs().max().item<double>(),
              1e-12 * (1.0 + batch.z[b].abs().max().item<double>()))
        << "sample " << b;
    EXPECT_EQ(alone.sample_iterations[0].item<int64_t>(),
              batch.sample_iterations[b].item<int64_t>());
  }
  EXPECT_LT(batch.sample_iterations[1].item<int64_t>(), batch.sample_iterations.max().item<int64_t>());
  EXPECT_EQ(batch.iterations, batch.sample_iterations.max().item<int64_t>());
}

// On a device the freeze rule's stop test is read every few iterations
// (stop_check_every): frozen codes do not move, so the codes, the per-sample
// counts and `iterations` are those of a read every iteration, bit for bit.
// The CPU runs the deferred path when asked, which is how it is tested here.
TEST(Fista, DeferredStopReadsGiveTheSameSolve) {
  auto [W, op, L, x] = random_linear_problem(14, 40, 16, 7);
  x[2] *= 1e-4;  // stops at once
  x[5] *= 0.1;
  Prox prox(ProxOptions().lambda(0.2));
  auto masked = lasso_smooth_part(op, x);
  masked.restrict = nullptr;  // a coupled problem: samples masked, never dropped
  // All samples stop (5 000 is far more than they need), or the cap cuts some.
  for (int64_t cap : {5000, 37}) {
    auto opts = ProximalGradientOptions().step(1.0 / L).tolerance(1e-7).iterations(cap);
    auto every = proximal_gradient(masked, prox, ProximalGradientOptions(opts).stop_check_every(1));
    ASSERT_GT(every.sample_iterations.max().item<int64_t>(),
              every.sample_iterations.min().item<int64_t>());
    for (int64_t period : {2, 3, 8, 64, 100000}) {
      auto late = proximal_gradient(masked, prox, ProximalGradientOptions(opts).stop_check_every(period));
      EXPECT_TRUE(torch::equal(late.z, every.z)) << "cap " << cap << ", period " << period;
      EXPECT_TRUE(torch::equal(late.sample_iterations, every.sample_iterations))
          << "cap " << cap << ", period " << period;
      EXPECT_EQ(late.iterations, every.iterations) << "cap " << cap << ", period " << period;
    }
    // A separable problem read late is masked instead of shrunk: the same
    // solve to rounding (the batch's products differ from the shrunk ones).
    auto shrunk = solve_lasso(op, x, prox, opts);
    auto late = solve_lasso(op, x, prox, ProximalGradientOptions(opts).stop_check_every(8));
    EXPECT_LE((late.z - shrunk.z).abs().max().item<double>(), 1e-12);
    EXPECT_TRUE(torch::equal(late.sample_iterations, shrunk.sample_iterations)) << "cap " << cap;
    EXPECT_EQ(late.iterations, shrunk.iterations) << "cap " << cap;
  }
  EXPECT_THROW(proximal_gradient(masked, prox,
                                 ProximalGradientOptions().step(1.0 / L).tolerance(1e-7).stop_check_every(-1)),
               c10::Error);
}

TEST(Fista, WarmStartAtSolutionStaysThere) {
  auto [W, op, L, x] = random_linear_problem(5, 20, 10, 2);
  Prox prox(ProxOptions().lambda(0.3));
  auto z = solve_lasso(op, x, prox, ProximalGradientOptions().step(1.0 / L).iterations(20000)).z;
  auto again = solve_lasso(op, x, prox, ProximalGradientOptions().step(1.0 / L).iterations(3), z).z;
  EXPECT_LT((again - z).abs().max().item<double>(), 1e-6);
}

TEST(PowerIteration, MatchesLargestSingularValueSquared) {
  torch::manual_seed(6);
  auto W = torch::randn({15, 9}, f64);
  auto op = linear_operator(W);
  auto v = power_iteration_start({1, 15}, f64);
  auto r = power_iteration(op, v, 10000, 1e-14);
  const double sigma = torch::linalg_matrix_norm(W, 2).item<double>();
  EXPECT_NEAR(r.lipschitz, sigma * sigma, 1e-8 * sigma * sigma);
}

// The momentum schedule of Beck & Teboulle (2009), written out independently:
// y₁ = z₀, t₁ = 1; z_k = prox(y_k + η Dᵀ(x − D y_k)); t_{k+1} = (1+√(1+4t_k²))/2;
// y_{k+1} = z_k + ((t_k − 1)/t_{k+1})(z_k − z_{k−1}). In particular two steps
// from zero are two ISTA steps (y₂ = z₁), which is what SDNet's code computes.
TEST(Fista, MomentumScheduleMatchesBeckTeboulle) {
  // Named copies, not a structured binding: the lambdas below capture them.
  const auto problem = random_linear_problem(6, 12, 8, 3);
  const auto& W = problem.W;
  const auto& op = problem.op;
  const auto& x = problem.x;
  const double eta = 1.0 / problem.L;
  Prox prox(ProxOptions().lambda(0.2).nonnegative(true));
  auto step = [&](const torch::Tensor& y) {
    auto g = torch::matmul(x - torch::matmul(y, W), W.t());  // Dᵀ(x − Dy), D = Wᵀ
    return torch::clamp_min(y + eta * g - eta * 0.2, 0.0);
  };
  for (bool warm : {false, true}) {
    auto z0 = warm ? torch::rand({3, 12}, f64) : torch::zeros({3, 12}, f64);
    for (int64_t steps : {1, 2, 3, 7}) {
      torch::Tensor z_prev = z0, y = z0, z;
      double t = 1.0;
      for (int64_t k = 1; k <= steps; ++k) {
        z = step(y);
        const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
        y = z + ((t - 1.0) / t_next) * (z - z_prev);
        z_prev = z;
        t = t_next;
      }
      auto opts = ProximalGradientOptions().step(eta).iterations(steps);
      auto got = warm ? solve_lasso(op, x, prox, opts, z0).z : solve_lasso(op, x, prox, opts).z;
      EXPECT_LT((got - z).abs().max().item<double>(), 1e-12) << "warm " << warm << " steps " << steps;
      // Tolerance mode runs the same iterates (a tolerance that never triggers).
      auto tol = ProximalGradientOptions().step(eta).tolerance(1e-300).iterations(steps);
      auto got_tol = warm ? solve_lasso(op, x, prox, tol, z0).z : solve_lasso(op, x, prox, tol).z;
      EXPECT_LT((got_tol - z).abs().max().item<double>(), 1e-12) << "tolerance mode, steps " << steps;
    }
    // Two steps are two ISTA steps.
    auto two = solve_lasso(op, x, prox, ProximalGradientOptions().step(eta).iterations(2), warm ? z0 : torch::Tensor()).z;
    auto ista = step(step(z0));
    EXPECT_LT((two - ista).abs().max().item<double>(), 1e-12);
  }
}

TEST(Fista, UnrolledGradientsEqualPlainTensorOpsUnrolling) {
  // Under autograd each FISTA step runs as one fused node (the addition
  // y + η·Dᵀr, prox, difference, extrapolation: proximal_gradient.cpp) when
  // the problem gives its descent direction, as the LASSO does; without it,
  // from the problem's own forward step, fused past the first two steps. Both
  // must equal the same recursion written with plain tensor ops, which
  // autograd differentiates op by op: codes and gradients in float64, for soft
  // and non-negative thresholds, with and without the ridge, for 1, 2, 3 and 7
  // steps (1 and 2: no extrapolation is built), from zero and from a warm start.
  torch::manual_seed(11);
  for (bool nonneg : {false, true}) {
    for (double mu : {0.0, 0.3}) {
      for (int64_t K : {1, 2, 3, 7}) {
        for (bool warm : {false, true}) {
          auto D = torch::randn({20, 12}, f64).requires_grad_();  // (C codes, d), as nn::Linear(d, C)
          auto x = torch::randn({5, 12}, f64).requires_grad_();    // (B, m)
          auto z0 = warm ? torch::rand({5, 20}, f64).requires_grad_() : torch::Tensor();
          const double eta = 0.02, lambda = 0.4;
          auto op = linear_operator(D);
          auto prox = Prox(ProxOptions().lambda(lambda).mu(mu).nonnegative(nonneg));
          const auto opts =
              ProximalGradientOptions().step(eta).iterations(K).momentum(Momentum::kFista);
          auto ours = solve_lasso(op, x, prox, opts, z0).z;  // (B, k), descent direction
          auto no_descent = lasso_smooth_part(op, x);
          no_descent.descent = nullptr;
          no_descent.descent_from_zero = nullptr;
          auto theirs = proximal_gradient(no_descent, prox, opts, z0).z;  // forward steps
          // Plain unrolling: z₁ = prox(z₀ + ηDᵀ(x − Dz₀)), then y, v, z as Beck & Teboulle.
          auto plain_prox = [&](const torch::Tensor& v) {
            auto t = nonneg ? torch::relu(v - eta * lambda) : torch::softshrink(v, eta * lambda);
            return t / (1.0 + eta * mu);
          };
          torch::Tensor z_prev = warm ? z0 : torch::zeros({5, 20}, f64), z, y = z_prev;
          double t = 1.0;
          for (int64_t k = 0; k < K; ++k) {
            // Dᵀx = xWᵀ (B, C), Dz = zW (B, d)
            auto v = y + eta * torch::matmul(x - torch::matmul(y, D), D.t());
            z = plain_prox(v);
            const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
            y = z + ((t - 1.0) / t_next) * (z - z_prev);
            t = t_next;
            z_prev = z;
          }
          const std::string where = "nonneg " + std::to_string(nonneg) + " mu " +
                                    std::to_string(mu) + " K " + std::to_string(K) + " warm " +
                                    std::to_string(warm);
          ASSERT_LT((ours - z).abs().max().item<double>(), 1e-12) << where;
          ASSERT_LT((theirs - z).abs().max().item<double>(), 1e-12) << where;
          {
            // Without autograd (the in-place loop, the direction added in its pass).
            torch::NoGradGuard no_grad;
            auto nograd = solve_lasso(op, x, prox, opts, warm ? z0.detach() : torch::Tensor()).z;
            EXPECT_LT((nograd - z).abs().max().item<double>(), 1e-12) << where;
            auto nograd_steps = proximal_gradient(no_descent, prox, opts,
                                                  warm ? z0.detach() : torch::Tensor()).z;
            EXPECT_LT((nograd_steps - z).abs().max().item<double>(), 1e-12) << where;
          }
          // A loss that reads every code with its own weight.
          auto w = torch::randn({5, 20}, f64);
          std::vector<torch::Tensor> wrt{x, D};
          if (warm) wrt.push_back(z0);
          auto loss = [&](const torch::Tensor& c) { return (c * w).sum() + c.pow(2).sum(); };
          auto g_ours = torch::autograd::grad({loss(ours)}, wrt);
          auto g_theirs = torch::autograd::grad({loss(theirs)}, wrt);
          auto g_plain = torch::autograd::grad({loss(z)}, wrt);
          for (size_t i = 0; i < wrt.size(); ++i) {
            EXPECT_LT((g_ours[i] - g_plain[i]).abs().max().item<double>(), 1e-10) << where << " " << i;
            EXPECT_LT((g_theirs[i] - g_plain[i]).abs().max().item<double>(), 1e-10) << where << " " << i;
          }
          EXPECT_GT(g_plain[1].abs().max().item<double>(), 1e-3);  // a gradient, not zeros
        }
      }
    }
  }
}

// --precision bf16: the LASSO gives its direction in bf16 (descent_bf16), the
// fused step reads it and writes the next point's bf16 copy in its own pass.
// Codes bit for bit and gradients equal to the conversion path they replace
// (the same products with their results converted to fp32 and the next point
// converted to bf16 by tensor ops): soft and non-negative thresholds, 1, 2 and
// 5 steps (5: extrapolated points, whose copies are the y's), row-major and
// channels-last signals. The operator offers the bf16 products only where
// both lower (not in fp32, not on the few-signal-channel route).
TEST(Fista, Bf16DirectionEqualsTheConversionPath) {
  torch::manual_seed(21);
  const ConvGeometry g{2, 1};
  {
    auto few = conv_operator(torch::randn({8, 1, 4, 4}), g, 12, 12);
    auto wide = conv_operator(torch::randn({8, 6, 4, 4}), g, 12, 12);
    EXPECT_FALSE(static_cast<bool>(wide.analysis_bf16));  // fp32: nothing lowers
    PrecisionGuard bf16(Precision::kBf16);
    EXPECT_FALSE(static_cast<bool>(few.analysis_bf16));
    EXPECT_TRUE(static_cast<bool>(conv_operator(torch::randn({8, 6, 4, 4}), g, 12, 12)
                                      .analysis_bf16));
  }
  PrecisionGuard bf16(Precision::kBf16);
  int cases = 0;
  for (bool nonneg : {false, true}) {
    for (int64_t K : {1, 2, 5}) {
      for (bool channels_last : {false, true}) {
        auto W = (torch::randn({8, 6, 4, 4}) * 0.2).requires_grad_();  // (C, M, k, k)
        auto x0 = torch::randn({3, 6, 12, 12});
        if (channels_last) x0 = x0.contiguous(at::MemoryFormat::ChannelsLast);
        auto op = conv_operator(W, g, 12, 12);
        ASSERT_TRUE(static_cast<bool>(op.analysis_bf16));
        auto prox = Prox(ProxOptions().lambda(0.05).nonnegative(nonneg));
        const auto opts =
            ProximalGradientOptions().step(0.05).iterations(K).momentum(Momentum::kFista);
        auto w = torch::randn({3, 8, 6, 6});
        auto run = [&](bool fused, torch::Tensor& gx, torch::Tensor& gW) {
          auto x = x0.clone().requires_grad_();
          auto f = lasso_smooth_part(op, x);
          if (!fused) {
            f.descent_bf16 = nullptr;
            f.descent_from_zero_bf16 = nullptr;
          }
          auto z = proximal_gradient(f, prox, opts, torch::Tensor()).z;  // (3, 8, 6, 6)
          EXPECT_EQ(z.scalar_type(), torch::kFloat);
          ((z * w).sum() + z.pow(2).sum()).backward();
          gx = x.grad().clone();
          gW = W.grad().clone();
          W.mutable_grad().zero_();
          return z.detach();
        };
        torch::Tensor gx1, gW1, gx2, gW2;
        auto ours = run(true, gx1, gW1);
        auto theirs = run(false, gx2, gW2);
        const std::string where = "nonneg " + std::to_string(nonneg) + " K " +
                                  std::to_string(K) + " cl " + std::to_string(channels_last);
        EXPECT_GT(ours.ne(0).sum().item<int64_t>(), 0) << where;
        EXPECT_TRUE(torch::equal(ours, theirs)) << where;
        EXPECT_GT(gW2.abs().max().item<double>(), 0.0) << where;
        EXPECT_LT((gx1 - gx2).abs().max().item<double>(), 1e-6 * gx2.abs().max().item<double>())
            << where;
        EXPECT_LT((gW1 - gW2).abs().max().item<double>(), 1e-6 * gW2.abs().max().item<double>())
            << where;
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 12);
}

// Under --precision bf16 a differentiated signal reaches the solve through one
// node (LowerSignal) that sums the gradients of its bf16 copy and of every
// residual in one pass. Against the conversion path (tensor ops, autograd's own
// sums): with another use of x outside the solve, 2 and 5 steps (one and four
// residuals), both layouts; a backward pass that asks for the dictionary's
// gradient alone leaves nothing behind for the next one on the retained graph;
// two passes accumulate twice; an x without gradient still solves.
TEST(Fista, Bf16SignalGradientIsOneSumOverItsUses) {
  torch::manual_seed(23);
  PrecisionGuard bf16(Precision::kBf16);
  const ConvGeometry g{1, 1};
  auto W = (torch::randn({8, 8, 3, 3}) * 0.2).requires_grad_();  // (C, M, k, k)
  auto op = conv_operator(W, g, 10, 10);
  ASSERT_TRUE(static_cast<bool>(op.analysis_bf16));
  auto prox = Prox(ProxOptions().lambda(0.05).nonnegative(true));
  auto w = torch::randn({3, 8, 10, 10});
  auto u = torch::randn({3, 8, 10, 10});
  for (int64_t K : {2, 5}) {
    for (bool channels_last : {false, true}) {
      auto x0 = torch::randn({3, 8, 10, 10});
      if (channels_last) x0 = x0.contiguous(at::MemoryFormat::ChannelsLast);
      const auto opts =
          ProximalGradientOptions().step(0.05).iterations(K).momentum(Momentum::kFista);
      const std::string where = "K " + std::to_string(K) + " cl " + std::to_string(channels_last);
      // loss(x, W): the codes' objective plus a use of x outside the solve.
      auto loss_of = [&](const torch::Tensor& x, bool fused) {
        auto f = lasso_smooth_part(op, x);
        if (!fused) {
          f.descent_bf16 = nullptr;
          f.descent_from_zero_bf16 = nullptr;
        }
        auto z = proximal_gradient(f, prox, opts, torch::Tensor()).z;  // (3, 8, 10, 10)
        return (z * w).sum() + z.pow(2).sum() + (x * u).sum();
      };
      auto theirs_x = x0.clone().requires_grad_();
      loss_of(theirs_x, false).backward();
      const auto gx_ref = theirs_x.grad().clone();
      const auto gW_ref = W.grad().clone();
      W.mutable_grad().zero_();
      const double sx = gx_ref.abs().max().item<double>();
      const double sW = gW_ref.abs().max().item<double>();

      auto x = x0.clone().requires_grad_();
      auto loss = loss_of(x, true);
      // The dictionary's gradient alone: x's node does not run, and nothing
      // is left pending for the full pass below.
      auto only_W = torch::autograd::grad({loss}, {W}, {}, /*retain_graph=*/true)[0];
      EXPECT_LT((only_W - gW_ref).abs().max().item<double>(), 1e-6 * sW) << where;
      EXPECT_FALSE(x.grad().defined()) << where;
      loss.backward({}, /*retain_graph=*/true);
      EXPECT_LT((x.grad() - gx_ref).abs().max().item<double>(), 1e-6 * sx) << where;
      EXPECT_LT((W.grad() - gW_ref).abs().max().item<double>(), 1e-6 * sW) << where;
      loss.backward();  // a second pass on the retained graph: twice the gradient
      EXPECT_LT((x.grad() - 2 * gx_ref).abs().max().item<double>(), 2e-6 * sx) << where;
      W.mutable_grad().zero_();

      // A signal without gradient (CSC-CTRL's images): the plain residual.
      auto z = proximal_gradient(lasso_smooth_part(op, x0), prox, opts, torch::Tensor()).z;
      (z * w).sum().backward();
      EXPECT_GT(W.grad().abs().max().item<double>(), 0.0) << where;
      W.mutable_grad().zero_();
    }
  }
}
