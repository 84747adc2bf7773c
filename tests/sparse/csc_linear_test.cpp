#include "sparseloop/sparse/csc_linear.h"

#include <gtest/gtest.h>

#include "support/testing.h"

using namespace sparseloop;

TEST(CscLinear, ShapesAndSameDictionaryForDecode) {
  CscLinear layer(CscLinearOptions(20, 32, CscOptions().lambda(0.05).steps(5)));
  auto x = torch::randn({4, 20});
  auto z = layer->forward(x);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{4, 32}));
  EXPECT_EQ(layer->decode(z).sizes(), x.sizes());
  EXPECT_EQ(layer->parameters().size(), 1u);
}

TEST(CscLinear, ConvergesToLassoSolutionWithTolerance) {
  torch::manual_seed(0);
  CscLinear layer(CscLinearOptions(10, 25, CscOptions().lambda(0.2).tolerance(1e-12).max_steps(20000)));
  layer->to(torch::kDouble);
  auto x = torch::randn({3, 10}, torch::kDouble);
  auto z = layer->forward(x);
  EXPECT_LT(kkt_violation(layer->op(), x, z, layer->options.csc().prox()), 1e-6);
}

TEST(CscLinear, GradientsMatchFiniteDifferences) {
  torch::manual_seed(1);
  CscLinear layer(CscLinearOptions(6, 9, CscOptions().lambda(0.05).steps(4).step_refresh(StepRefresh::kFixed)));
  layer->to(torch::kDouble);
  auto x = torch::randn({3, 6}, torch::kDouble);
  layer->forward(x);
  auto probe = torch::randn({3, 9}, torch::kDouble);
  auto f = [&](const torch::Tensor& xx) { return (layer->forward(xx) * probe).sum(); };
  EXPECT_LT(ts::gradcheck_error(f, x), 1e-6);
}
