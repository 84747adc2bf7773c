#include "sparseloop/families/vdl/variance_hinge.h"

#include <gtest/gtest.h>

#include <cmath>

#include "support/testing.h"

using namespace sparseloop;

namespace {
auto f64 = torch::TensorOptions().dtype(torch::kDouble);

// Direct computation with explicit loops: std_j = √(Σ_i (z_ij − m_j)² / (n − 1)).
double hinge_by_loops(const torch::Tensor& z, double T) {
  auto a = z.accessor<double, 2>();
  const int64_t n = z.size(0), l = z.size(1);
  double total = 0;
  for (int64_t j = 0; j < l; ++j) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m += a[i][j];
    m /= n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += (a[i][j] - m) * (a[i][j] - m);
    const double s = std::sqrt(ss / (n - 1));
    total += std::pow(std::max(T - s, 0.0), 2);
  }
  return total;
}
}  // namespace

TEST(VarianceHinge, StdIsUnbiasedBatchStd) {
  torch::manual_seed(0);
  auto z = torch::randn({9, 5}, f64);
  EXPECT_TRUE(torch::allclose(batch_std(z), z.std(0, /*unbiased=*/true)));
}

TEST(VarianceHinge, ValueMatchesLoops) {
  torch::manual_seed(1);
  // Columns with std below and above T.
  auto z = torch::randn({12, 6}, f64) * torch::tensor({0.1, 0.3, 0.45, 0.6, 1.0, 2.0}, f64);
  for (double T : {0.5, 1.0}) {
    EXPECT_NEAR(variance_hinge(z, T).item<double>(), hinge_by_loops(z, T), 1e-12);
  }
}

// The closed form −2(T − s_j)₊(z_ij − m_j)/((n−1)s_j) against float64 finite differences.
TEST(VarianceHinge, GradientFormulaMatchesFiniteDifferences) {
  torch::manual_seed(2);
  auto z = torch::randn({10, 6}, f64) * torch::tensor({0.05, 0.2, 0.4, 0.7, 1.0, 3.0}, f64);
  const double T = 0.5;
  auto g = variance_hinge_grad(z, T);
  const double h = 1e-6;
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < z.size(0); ++i) {
    for (int64_t j = 0; j < z.size(1); ++j) {
      auto zp = z.clone(), zm = z.clone();
      zp[i][j] += h;
      zm[i][j] -= h;
      const double fd = (hinge_by_loops(zp, T) - hinge_by_loops(zm, T)) / (2 * h);
      worst = std::max(worst, std::abs(fd - g[i][j].item<double>()));
      scale = std::max(scale, std::abs(fd));
    }
  }
  EXPECT_LT(worst / scale, 1e-7);
  // Columns whose std exceeds T get no gradient.
  EXPECT_EQ(g.select(1, 4).abs().max().item<double>(), 0.0);
  EXPECT_EQ(g.select(1, 5).abs().max().item<double>(), 0.0);
  // Autograd through variance_hinge agrees to rounding.
  auto zr = z.clone().requires_grad_(true);
  auto ga = torch::autograd::grad({variance_hinge(zr, T)}, {zr})[0];
  EXPECT_LT((ga - g).abs().max().item<double>(), 1e-13);
}

// A collapsed component (std exactly 0) gets a zero subgradient, not NaN,
// from both the formula and autograd (as torch.norm in the authors' code).
TEST(VarianceHinge, ZeroStdComponentHasZeroGradient) {
  auto z = torch::randn({6, 3}, f64);
  z.select(1, 1).fill_(0.25);
  auto g = variance_hinge_grad(z, 0.5);
  EXPECT_TRUE(torch::isfinite(g).all().item<bool>());
  EXPECT_EQ(g.select(1, 1).abs().max().item<double>(), 0.0);
  auto zr = z.clone().requires_grad_(true);
  auto ga = torch::autograd::grad({variance_hinge(zr, 0.5)}, {zr})[0];
  EXPECT_TRUE(torch::isfinite(ga).all().item<bool>());
  EXPECT_LT((ga - g).abs().max().item<double>(), 1e-13);
  EXPECT_NEAR(variance_hinge(z, 0.5).item<double>(),
              0.25 + hinge_by_loops(z.index({torch::indexing::Slice(), torch::tensor({0, 2})}), 0.5),
              1e-12);
}

TEST(VarianceHinge, RejectsBadShapes) {
  EXPECT_THROW(batch_std(torch::randn({1, 4})), c10::Error);
  EXPECT_THROW(variance_hinge_grad(torch::randn({4}), 0.5), c10::Error);
}
