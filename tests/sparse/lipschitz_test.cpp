#include "sparseloop/sparse/lipschitz.h"

#include <gtest/gtest.h>

#include <limits>

#include "sparseloop/sparse/conv_dictionary.h"
#include "support/lipschitz_cases.h"

using namespace sparseloop;

namespace {

/// λ_max(DᵀD) exactly: DᵀD written out as a dense float64 matrix, column by
/// column (DᵀD e_i for every unit code), and LAPACK's symmetric eigensolver.
double dense_top_eigenvalue(const SparseOperator& op, at::IntArrayRef code_shape) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> batch(code_shape.begin(), code_shape.end());
  const int64_t n = torch::tensor(batch).prod().item<int64_t>();
  batch[0] = n;  // one unit code per image: (n, C, H, W)
  auto e = torch::eye(n, torch::kDouble).view(batch);
  auto A = op.analysis(op.synthesis(e)).reshape({n, n});  // (n, n): row i = (DᵀD e_i)ᵀ
  return torch::linalg_eigvalsh(0.5 * (A + A.t())).max().item<double>();
}

struct Case {
  int64_t C, M, k, s, p, H;
};

using test_lipschitz::sdnet_policy;
using test_lipschitz::unit_atoms;

}  // namespace

// Lanczos against the dense eigensolver, in float64 and float32, over the
// shapes CSC layers use (stride 1 and 2, several channel ratios): the estimate
// is from below up to rounding, within the tolerance asked, and takes fewer
// products than power iteration needs to come as close from the same start.
TEST(Lipschitz, LanczosMatchesTheDenseEigenvalueInFewerProductsThanPowerIteration) {
  for (const Case c : {Case{4, 3, 3, 1, 1, 10}, Case{8, 8, 3, 1, 1, 8}, Case{6, 1, 4, 2, 1, 12},
                       Case{16, 4, 3, 2, 1, 9}}) {
    torch::manual_seed(c.C * 100 + c.M);
    auto w = unit_atoms(torch::randn({c.C, c.M, c.k, c.k}, torch::kDouble));  // (C, M, k, k)
    const ConvGeometry g{c.s, c.p};
    const int64_t Hz = conv_code_size(c.H, c.k, g);
    const std::vector<int64_t> shape{1, c.C, Hz, Hz};
    const auto op64 = conv_operator(w, g, c.H, c.H);
    const double exact = dense_top_eigenvalue(op64, shape);
    const std::string where = "C " + std::to_string(c.C) + " M " + std::to_string(c.M) + " k " +
                              std::to_string(c.k) + " s " + std::to_string(c.s);

    auto v = power_iteration_start(shape, torch::TensorOptions().dtype(torch::kDouble));
    const auto lz = lanczos_top_eigenvalue(op64, v, 100, 1e-10);
    EXPECT_LE(lz.lipschitz, exact * (1 + 1e-12)) << where;  // from below
    EXPECT_NEAR(lz.lipschitz, exact, 1e-8 * exact) << where;
    // v is the top Ritz vector: unit, and its Rayleigh quotient is θ.
    EXPECT_NEAR(v.norm().item<double>(), 1.0, 1e-12) << where;
    EXPECT_NEAR(op64.synthesis(v).pow(2).sum().item<double>(), lz.lipschitz, 1e-6 * exact)
        << where;

    // Power iteration from the same start, as many products: further off.
    auto p = power_iteration_start(shape, torch::TensorOptions().dtype(torch::kDouble));
    const auto pw = power_iteration(op64, p, lz.iterations, 0.0);
    EXPECT_GE(exact - pw.lipschitz + 1e-12 * exact, exact - lz.lipschitz) << where;

    // float32, as the layers run it, to the cold tolerance 1e-6: within 1e-5.
    const auto op32 = conv_operator(w.to(torch::kFloat), g, c.H, c.H);
    auto v32 = power_iteration_start(shape, torch::TensorOptions().dtype(torch::kFloat));
    const auto lz32 = lanczos_top_eigenvalue(op32, v32, 100, 1e-6);
    EXPECT_NEAR(lz32.lipschitz, exact, 1e-5 * exact) << where;
    EXPECT_LE(lz32.iterations, 100) << where;
  }
}

// A dictionary whose DᵀD has one eigenvalue (orthogonal atoms on disjoint
// supports: a 1×1 kernel with orthonormal columns) stops at the first
// product, invariant, with the exact value; the maximum of iterations is kept.
TEST(Lipschitz, LanczosStopsOnAnInvariantSpaceAndHonoursItsBudget) {
  auto w = torch::eye(4, torch::kDouble).mul(1.5).view({4, 4, 1, 1});  // DᵀD = 2.25 I
  const auto op = conv_operator(w, ConvGeometry{1, 0}, 5, 5);
  auto v = power_iteration_start({1, 4, 5, 5}, torch::TensorOptions().dtype(torch::kDouble));
  const auto r = lanczos_top_eigenvalue(op, v, 50, 1e-6);
  EXPECT_EQ(r.iterations, 1);
  EXPECT_NEAR(r.lipschitz, 2.25, 1e-12);

  torch::manual_seed(3);
  auto w2 = torch::randn({8, 3, 3, 3}, torch::kDouble);
  const auto op2 = conv_operator(w2, ConvGeometry{1, 1}, 12, 12);
  auto v2 = power_iteration_start({1, 8, 12, 12}, torch::TensorOptions().dtype(torch::kDouble));
  EXPECT_EQ(lanczos_top_eigenvalue(op2, v2, 7, 0.0).iterations, 7);
}

// The cache's cold estimates run Lanczos; warm refreshes still start from the
// stored vector, which is now the top Ritz vector.
TEST(Lipschitz, CacheColdEstimateIsLanczosAndWarmRefreshStartsFromItsVector) {
  torch::manual_seed(5);
  torch::nn::Module m;
  LipschitzCache cache;
  cache.register_buffers(m);
  auto w = unit_atoms(torch::randn({8, 3, 3, 3}));
  const ConvGeometry g{1, 1};
  const auto op = conv_operator(w, g, 16, 16);
  LipschitzPolicy p;
  p.refresh = StepRefresh::kOnChange;
  p.power_iterations = 50;
  p.power_tolerance = 1e-3;
  const double cold = cache.refresh(op, w, {1, 8, 16, 16}, p);
  EXPECT_TRUE(cache.last_cold());
  auto v = power_iteration_start({1, 8, 16, 16}, w.options());
  const auto ref = lanczos_top_eigenvalue(op, v, p.initial_power_iterations, 1e-6);
  EXPECT_EQ(cold, ref.lipschitz);  // the same computation, bit for bit
  EXPECT_EQ(cache.last_iterations(), ref.iterations);
  // A small move: a warm refresh from the Ritz vector settles at once.
  auto w2 = w + 1e-4 * torch::randn_like(w);
  const auto op2 = conv_operator(w2, g, 16, 16);
  const double warm = cache.refresh(op2, w2, {1, 8, 16, 16}, p);
  EXPECT_FALSE(cache.last_cold());
  EXPECT_LE(cache.last_iterations(), 3);
  EXPECT_NEAR(warm, cold, 1e-2 * cold);
}

// A warm refresh compares its first estimate with the stored L: a dictionary
// that moved a little settles in one iteration (two products), within the
// tolerance of the exact λ_max; a larger move keeps iterating, and a move
// past the restart threshold restarts cold. Also the move's reading: an
// unchanged dictionary runs nothing, a NaN neither refreshes nor restarts.
TEST(Lipschitz, WarmRefreshSettlesInOneIterationAgainstTheStoredEstimate) {
  torch::manual_seed(6);
  torch::nn::Module m;
  LipschitzCache cache;
  cache.register_buffers(m);
  auto w = unit_atoms(torch::randn({8, 4, 3, 3}));
  const ConvGeometry g{1, 1};
  const std::vector<int64_t> shape{1, 8, 12, 12};
  const LipschitzPolicy p = sdnet_policy();
  cache.refresh(conv_operator(w, g, 12, 12), w, shape, p);
  ASSERT_TRUE(cache.last_cold());

  auto w_same = w.clone();
  cache.refresh(conv_operator(w_same, g, 12, 12), w_same, shape, p);
  EXPECT_EQ(cache.last_iterations(), 0);  // unchanged: nothing run

  auto w1 = unit_atoms(w + 1e-4 * torch::randn_like(w));  // an SGD step's move
  const double small = cache.refresh(conv_operator(w1, g, 12, 12), w1, shape, p);
  EXPECT_FALSE(cache.last_cold());
  EXPECT_EQ(cache.last_iterations(), 1);
  const double exact1 = dense_top_eigenvalue(conv_operator(w1.to(torch::kDouble), g, 12, 12), shape);
  EXPECT_LE(small, exact1 * (1 + 1e-6));  // from below
  EXPECT_GT(small, exact1 * (1 - 1e-3));  // within the tolerance

  auto w2 = unit_atoms(w1 + 0.004 * torch::randn_like(w1));  // moved, under the threshold
  const double larger = cache.refresh(conv_operator(w2, g, 12, 12), w2, shape, p);
  EXPECT_FALSE(cache.last_cold());
  EXPECT_GT(cache.last_iterations(), 1);
  const double exact2 = dense_top_eigenvalue(conv_operator(w2.to(torch::kDouble), g, 12, 12), shape);
  EXPECT_GT(larger, exact2 * (1 - 2e-3));

  auto w3 = unit_atoms(w2 + 0.3 * torch::randn_like(w2));  // past the threshold
  cache.refresh(conv_operator(w3, g, 12, 12), w3, shape, p);
  EXPECT_TRUE(cache.last_cold());

  auto broken = w3.clone();
  broken.view(-1)[5] = std::numeric_limits<float>::quiet_NaN();
  const double kept = cache.value();
  cache.refresh(conv_operator(broken, g, 12, 12), broken, shape, p);
  EXPECT_EQ(cache.last_iterations(), 0);
  EXPECT_EQ(cache.value(), kept);
}

// A restart (a move past the threshold) runs Lanczos from the fixed start
// plus the stored vector: the same estimate to the tolerance, from below, in
// fewer products than from the fixed start alone when the move leaves the top
// eigenvector near the old one (a 10 % move here, as SDNet's bench layers
// make at lr 0.1).
TEST(Lipschitz, RestartStartsFromTheFixedAndTheStoredVector) {
  torch::manual_seed(7);
  const ConvGeometry g{1, 1};
  const std::vector<int64_t> shape{1, 8, 12, 12};
  const LipschitzPolicy p = sdnet_policy();
  int64_t fewer = 0, cases = 0;
  for (int trial = 0; trial < 4; ++trial) {
    torch::nn::Module m;
    LipschitzCache cache;
    cache.register_buffers(m);
    auto w = unit_atoms(torch::randn({8, 4, 3, 3}, torch::kDouble));
    cache.refresh(conv_operator(w, g, 12, 12), w, shape, p);
    ASSERT_TRUE(cache.last_cold());
    const auto stored = m.named_buffers()["power_vector"].clone();

    // ≈ 10 % of each (unit, 36-value) atom
    auto w2 = unit_atoms(w + 0.1 * torch::randn_like(w) / std::sqrt(36.0));
    const auto op2 = conv_operator(w2, g, 12, 12);
    const double L = cache.refresh(op2, w2, shape, p);
    ASSERT_TRUE(cache.last_cold()) << trial;  // past the threshold: a restart

    // The same computation written out: bit for bit.
    auto v = power_iteration_start(shape, w2.options());
    v.add_(stored, 1.0 / stored.norm().item<double>());
    const auto same = lanczos_top_eigenvalue(op2, v, p.initial_power_iterations, 1e-6);
    EXPECT_EQ(L, same.lipschitz) << trial;
    EXPECT_EQ(cache.last_iterations(), same.iterations) << trial;

    // From below, and as close as the fixed start's estimate comes: Lanczos'
    // 1e-6 test on successive estimates stops on a plateau either way (here
    // 2e-7 to 6e-4 below λ_max for both starts), within the warm refreshes'
    // 1e-3 and the 0.9/L step's margin.
    const double exact = dense_top_eigenvalue(op2, shape);
    auto f = power_iteration_start(shape, w2.options());
    const auto fixed = lanczos_top_eigenvalue(op2, f, p.initial_power_iterations, 1e-6);
    EXPECT_LE(L, exact * (1 + 1e-12)) << trial;
    EXPECT_GT(L, exact * (1 - 1e-3)) << trial;
    EXPECT_LE(exact - L, std::max(1.5 * (exact - fixed.lipschitz), 1e-5 * exact)) << trial;
    fewer += cache.last_iterations() < fixed.iterations;
    ++cases;
  }
  EXPECT_EQ(fewer, cases);  // 12–16 products against 19–31
}
