#include "sparseloop/sparse/csc_layer.h"

#include <gtest/gtest.h>

using namespace sparseloop;

namespace {

/// The normalization as autograd differentiates it, the reference for the
/// hand-written backward.
torch::Tensor normalize_atoms_by_autograd(const torch::Tensor& w) {
  auto norms = w.pow(2).sum({1, 2, 3}, /*keepdim=*/true).sqrt().clamp_min(1e-12);  // (C, 1, 1, 1)
  return w / norms;
}

}  // namespace

// Unit atoms and the gradient of any loss through them equal autograd's chain
// in float64, for a non-contiguous weight too. A zero atom: autograd's chain
// gives NaN there (sqrt′(0)·0); ours is that of the clamp, g / ε, finite.
TEST(NormalizeAtoms, UnitRowsAndBackwardEqualAutogradsFloat64) {
  torch::manual_seed(0);
  auto base = torch::randn({6, 3, 4, 4}, torch::kDouble);
  base[2].zero_();
  for (const auto& w0 : {base, base.transpose(2, 3)}) {
    auto up = torch::randn(w0.sizes(), torch::kDouble);
    auto w = w0.clone().requires_grad_(true);
    if (!w0.is_contiguous()) w = w0.detach().requires_grad_(true);  // keep the strides
    auto ours = normalize_atoms(w);
    (ours * up).sum().backward();
    auto wr = w0.detach().clone().requires_grad_(true);
    auto ref = normalize_atoms_by_autograd(wr);
    (ref * up).sum().backward();
    EXPECT_TRUE(torch::allclose(ours, ref, 1e-14, 1e-14));
    const auto live = torch::tensor({0, 1, 3, 4, 5});
    EXPECT_TRUE(torch::allclose(w.grad().index_select(0, live), wr.grad().index_select(0, live),
                                1e-12, 1e-12));
    EXPECT_TRUE(torch::allclose(w.grad()[2], up[2] / 1e-12, 1e-12));
    auto norms = ours.detach().reshape({6, -1}).norm(2, 1);
    EXPECT_NEAR(norms[0].item<double>(), 1.0, 1e-14);
    EXPECT_EQ(norms[2].item<double>(), 0.0);
  }
}

// The float32 row loops (CSC-CTRL's widest dictionary) against the float64
// chain: the unit atoms and their gradient to float32's resolution.
TEST(NormalizeAtoms, Float32RowsMatchTheFloat64Chain) {
  torch::manual_seed(1);
  auto w64 = torch::randn({256, 128, 4, 4}, torch::kDouble);
  auto up64 = torch::randn(w64.sizes(), torch::kDouble);
  auto w = w64.to(torch::kFloat).requires_grad_(true);
  auto ours = normalize_atoms(w);
  (ours * up64.to(torch::kFloat)).sum().backward();
  auto wr = w64.clone().requires_grad_(true);
  auto ref = normalize_atoms_by_autograd(wr);
  (ref * up64).sum().backward();
  EXPECT_LT((ours.to(torch::kDouble) - ref).abs().max().item<double>(), 1e-7);
  const double scale = wr.grad().abs().max().item<double>();
  EXPECT_LT((w.grad().to(torch::kDouble) - wr.grad()).abs().max().item<double>() / scale, 1e-6);
}
