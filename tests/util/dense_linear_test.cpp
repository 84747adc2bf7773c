#include "sparseloop/util/dense_linear.h"

#include <gtest/gtest.h>

using namespace sparseloop;

// Whatever route it takes (oneDNN 1×1 convolution or BLAS), dense_linear is
// x·Wᵀ + b with the gradients of torch::nn::functional::linear.
TEST(DenseLinear, EqualsLinearWithGradients) {
  torch::manual_seed(0);
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    auto opt = torch::TensorOptions().dtype(dtype);
    // Large enough (2¹⁷ multiply-adds) for the oneDNN route where it applies.
    auto x = torch::randn({64, 48}, opt).requires_grad_(true);
    auto w = torch::randn({50, 48}, opt).requires_grad_(true);
    auto b = torch::randn({50}, opt).requires_grad_(true);
    auto y = dense_linear(x, w, b);
    auto ref = x.detach().mm(w.detach().t()) + b.detach();
    const double tol = dtype == torch::kFloat ? 1e-4 : 1e-12;
    EXPECT_LT((y.detach() - ref).abs().max().item<double>(), tol);
    auto g = torch::randn({64, 50}, opt);
    auto grads = torch::autograd::grad({y}, {x, w, b}, {g});
    EXPECT_LT((grads[0] - g.mm(w.detach())).abs().max().item<double>(), tol);
    EXPECT_LT((grads[1] - g.t().mm(x.detach())).abs().max().item<double>(), tol);
    EXPECT_LT((grads[2] - g.sum(0)).abs().max().item<double>(), tol);
    // Transposed (non-contiguous) weights and no bias.
    auto wt = torch::randn({48, 50}, opt);
    EXPECT_LT((dense_linear(x.detach(), wt.t()) - x.detach().mm(wt)).abs().max().item<double>(), tol);
  }
  EXPECT_THROW(dense_linear(torch::randn({2, 3}), torch::randn({4, 2})), c10::Error);
}
