#include "sparseloop/families/ctrl/rate_reduction.h"

#include <gtest/gtest.h>

#include "sparseloop/util/error.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {
auto f64 = torch::TensorOptions().dtype(torch::kDouble);

torch::Tensor unit_rows(torch::Tensor z) { return z / z.norm(2, 1, true); }

torch::Tensor random_rotation(int64_t d) {
  return std::get<0>(torch::linalg_qr(torch::randn({d, d}, f64)));
}

// Direct d×d formula, no tricks: ½ logdet(I + d/(nε²) ZᵀZ).
double rate_direct(const torch::Tensor& z, double eps_sq = 0.5) {
  const double n = z.size(0), d = z.size(1);
  auto m = torch::eye(z.size(1), f64) + d / (n * eps_sq) * z.t().matmul(z);
  return 0.5 * torch::logdet(m).item<double>();
}
}  // namespace

TEST(RateReduction, GramFormsAgree) {
  torch::manual_seed(0);
  for (auto [n, d] : std::vector<std::pair<int64_t, int64_t>>{{5, 20}, {20, 5}, {12, 12}}) {
    auto z = unit_rows(torch::randn({n, d}, f64));
    EXPECT_NEAR(coding_rate(z).item<double>(), rate_direct(z), 1e-10);
    auto gram_n = torch::logdet(torch::eye(n, f64) + 0.7 * z.matmul(z.t())).item<double>();
    auto gram_d = torch::logdet(torch::eye(d, f64) + 0.7 * z.t().matmul(z)).item<double>();
    EXPECT_NEAR(logdet_identity_plus_gram(z, 0.7).item<double>(), gram_n, 1e-10);
    EXPECT_NEAR(gram_n, gram_d, 1e-10);
  }
}

TEST(RateReduction, ZeroForIdenticalAndNonNegative) {
  torch::manual_seed(1);
  for (int trial = 0; trial < 5; ++trial) {
    auto z = torch::randn({16, 8}, f64);
    auto zh = torch::randn({16, 8}, f64);
    EXPECT_NEAR(rate_reduction(z, z).item<double>(), 0.0, 1e-10);
    EXPECT_GE(rate_reduction(z, zh).item<double>(), 0.0);
    EXPECT_GT(rate_reduction(z, zh).item<double>(), 0.1);
  }
}

TEST(RateReduction, InvariantToRotationsOfFeatureSpace) {
  torch::manual_seed(2);
  auto z = torch::randn({10, 6}, f64), zh = torch::randn({14, 6}, f64);
  auto labels = torch::randint(0, 3, {10}, torch::kLong);
  auto Q = random_rotation(6);
  EXPECT_NEAR(coding_rate(z).item<double>(), coding_rate(z.matmul(Q)).item<double>(), 1e-10);
  EXPECT_NEAR(rate_reduction(z, zh).item<double>(),
              rate_reduction(z.matmul(Q), zh.matmul(Q)).item<double>(), 1e-10);
  EXPECT_NEAR(class_coding_rate(z, labels, 3).item<double>(),
              class_coding_rate(z.matmul(Q), labels, 3).item<double>(), 1e-10);
  // Invariant to the order of the samples, too.
  auto perm = torch::randperm(10, torch::kLong);
  EXPECT_NEAR(coding_rate(z).item<double>(), coding_rate(z.index_select(0, perm)).item<double>(),
              1e-10);
}

TEST(RateReduction, ClassConditionalObjectiveMatchesItsDefinition) {
  torch::manual_seed(3);
  auto z = unit_rows(torch::randn({12, 5}, f64));
  auto zh = unit_rows(torch::randn({12, 5}, f64));
  auto y = torch::tensor({0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2}, torch::kLong);
  auto t = closed_loop_objective(z, zh, y, 3);
  double rc = 0;
  for (int j = 0; j < 3; ++j) {
    auto idx = (y == j).nonzero().squeeze(1);
    auto zj = z.index_select(0, idx);
    rc += (double(idx.numel()) / 12.0) * rate_direct(zj);  // (n_j/2n) logdet = (n_j/n) R(Z_j)
  }
  EXPECT_NEAR(t.class_rate_z.item<double>(), rc, 1e-10);
  double delta = 0;
  for (int j = 0; j < 3; ++j) {
    auto idx = (y == j).nonzero().squeeze(1);
    delta += rate_reduction(z.index_select(0, idx), zh.index_select(0, idx)).item<double>();
  }
  const double expected = rate_direct(z) - rc + rate_direct(zh) -
                          t.class_rate_z_hat.item<double>() + delta;
  EXPECT_NEAR(t.objective.item<double>(), expected, 1e-10);
  // Unlabelled: plain ΔR.
  auto u = closed_loop_objective(z, zh);
  EXPECT_NEAR(u.objective.item<double>(), rate_reduction(z, zh).item<double>(), 1e-12);
}

TEST(RateReduction, BatchedClassTermsEqualThePerClassLoopInBothGramForms) {
  // closed_loop_objective pads every class into one batch; the public
  // per-class functions are the independent reference. Class 2 is absent,
  // class 3 is larger than the rest (padding), and d = 4 takes the d×d Gram
  // (rows ≥ d) where d = 40 takes the rows×rows one.
  torch::manual_seed(7);
  auto y = torch::tensor({3, 0, 3, 1, 3, 3, 0, 3, 1, 3, 3}, torch::kLong);
  for (int64_t d : {4, 40}) {
    auto z = unit_rows(torch::randn({11, d}, f64)).requires_grad_();
    auto zh = unit_rows(torch::randn({11, d}, f64));
    auto t = closed_loop_objective(z, zh, y, 4);
    double delta = 0;
    for (int j = 0; j < 4; ++j) {
      auto idx = (y == j).nonzero().squeeze(1);
      if (idx.numel() == 0) continue;
      delta += rate_reduction(z.index_select(0, idx), zh.index_select(0, idx)).item<double>();
    }
    EXPECT_NEAR(t.class_rate_z.item<double>(), class_coding_rate(z, y, 4).item<double>(), 1e-10);
    EXPECT_NEAR(t.class_rate_z_hat.item<double>(), class_coding_rate(zh, y, 4).item<double>(),
                1e-10);
    EXPECT_NEAR(t.delta.item<double>(), delta, 1e-10);
    // The gradient, too: the padding rows must pass none.
    auto g = torch::autograd::grad({t.objective}, {z})[0];
    auto zr = z.detach().clone().requires_grad_();
    auto ref = coding_rate(zr) - class_coding_rate(zr, y, 4) + coding_rate(zh) -
               class_coding_rate(zh, y, 4);
    for (int j = 0; j < 4; ++j) {
      auto idx = (y == j).nonzero().squeeze(1);
      if (idx.numel() > 0) ref = ref + rate_reduction(zr.index_select(0, idx), zh.index_select(0, idx));
    }
    auto gr = torch::autograd::grad({ref}, {zr})[0];
    EXPECT_LT((g - gr).abs().max().item<double>(), 1e-10) << "d = " << d;
  }
  auto bad = torch::randn({11, 4});
  bad[5][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(closed_loop_objective(bad, torch::randn({11, 4}), y, 4), NumericalError);
  EXPECT_THROW(closed_loop_objective(torch::randn({11, 4}), torch::randn({11, 4}), y, 3),
               c10::Error);  // label 3 outside [0, 3)
}

TEST(RateReduction, GradientsMatchFiniteDifferences) {
  torch::manual_seed(4);
  auto z = torch::randn({6, 4}, f64), zh = torch::randn({6, 4}, f64);
  auto y = torch::tensor({0, 1, 0, 1, 1, 0}, torch::kLong);
  EXPECT_LT(ts::gradcheck_error([&](const torch::Tensor& a) { return rate_reduction(a, zh); }, z), 1e-6);
  EXPECT_LT(ts::gradcheck_error([&](const torch::Tensor& a) { return coding_rate(a); }, z), 1e-6);
  EXPECT_LT(ts::gradcheck_error(
                [&](const torch::Tensor& a) { return closed_loop_objective(z, a, y, 2).objective; }, zh),
            1e-6);
  // n > d and n < d use different Grams; both differentiate correctly.
  auto wide = torch::randn({3, 9}, f64);
  EXPECT_LT(ts::gradcheck_error([&](const torch::Tensor& a) { return coding_rate(a); }, wide), 1e-6);
}

TEST(RateReduction, NonFiniteFeaturesRaiseAClearError) {
  auto z = torch::randn({4, 3});
  z[1][2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(coding_rate(z), NumericalError);
  EXPECT_THROW(rate_reduction(z, torch::randn({4, 3})), NumericalError);
}

TEST(RateReduction, WorksInFloat32) {
  torch::manual_seed(5);
  auto z = torch::randn({64, 32}), zh = torch::randn({64, 32});
  auto a = rate_reduction(z, zh).item<double>();
  auto b = rate_reduction(z.to(torch::kDouble), zh.to(torch::kDouble)).item<double>();
  EXPECT_NEAR(a, b, 1e-4 * std::abs(b));
}

TEST(RateReduction, SamplewiseTermIsTheMeanOfTwoPointRateReductions) {
  // Independent reference: the general ΔR of each pair {z_i} vs {ẑ_i} by
  // Cholesky, against the closed form over the two-point Gram's eigenvalues.
  torch::manual_seed(5);
  auto z = torch::randn({7, 12}, f64), zh = torch::randn({7, 12}, f64);
  zh[3] = z[3] * 2.5;  // one reconstruction on its own sample's ray: its term is 0
  double mean = 0;
  for (int64_t i = 0; i < 7; ++i)
    mean += rate_reduction(z.narrow(0, i, 1), zh.narrow(0, i, 1), 0.3).item<double>() / 7;
  EXPECT_NEAR(samplewise_rate_reduction(z, zh, 0.3).item<double>(), mean, 1e-10);
  EXPECT_NEAR(samplewise_rate_reduction(z, z).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(rate_reduction(z.narrow(0, 3, 1), zh.narrow(0, 3, 1)).item<double>(), 0.0, 1e-10);
  // Unlike ΔR(Z, Ẑ), it sees a permutation of the reconstructions.
  auto perm = torch::tensor({1, 2, 3, 4, 5, 6, 0}, torch::kLong);
  EXPECT_NEAR(rate_reduction(z, z.index_select(0, perm)).item<double>(), 0.0, 1e-10);
  EXPECT_GT(samplewise_rate_reduction(z, z.index_select(0, perm)).item<double>(), 0.5);
  // In the objective: weight × term added to T, logged separately.
  auto t0 = closed_loop_objective(z, zh);
  auto t1 = closed_loop_objective(z, zh, {}, 0, kDefaultEpsilonSq, 0.25);
  EXPECT_FALSE(t0.sample_delta.defined());
  EXPECT_NEAR(t1.objective.item<double>() - t0.objective.item<double>(),
              0.25 * samplewise_rate_reduction(z, zh).item<double>(), 1e-10);
  // Its gradient in float64 against finite differences.
  EXPECT_LT(ts::gradcheck_error(
                [&](const torch::Tensor& a) { return samplewise_rate_reduction(z, a); }, zh),
            1e-6);
}
