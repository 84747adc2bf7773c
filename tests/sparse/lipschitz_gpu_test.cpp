#include "sparseloop/sparse/lipschitz.h"

#include <gtest/gtest.h>

#include "sparseloop/sparse/conv_dictionary.h"
#include "support/lipschitz_cases.h"

using namespace sparseloop;

// A refresh on CUDA reads the stored L and the dictionary's move in one
// device synchronization: the same decisions (nothing run when unchanged, a
// warm refresh after a small move, a restart past the threshold) and the same
// L as on the CPU, over the sequence of WarmRefreshSettlesInOneIteration….
TEST(GpuLipschitz, RefreshDecidesAsOnTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(6);
  const auto& unit = test_lipschitz::unit_atoms;
  const LipschitzPolicy p = test_lipschitz::sdnet_policy();
  torch::nn::Module on_cpu, on_cuda;
  LipschitzCache cpu, cuda;
  cpu.register_buffers(on_cpu);
  cuda.register_buffers(on_cuda);
  on_cuda.to(torch::kCUDA);
  const ConvGeometry g{1, 1};
  const std::vector<int64_t> shape{1, 8, 12, 12};
  auto w = unit(torch::randn({8, 4, 3, 3}));
  const std::vector<torch::Tensor> sequence{
      w, w.clone(), unit(w + 1e-4 * torch::randn_like(w)), unit(w + 0.004 * torch::randn_like(w)),
      unit(w + 0.3 * torch::randn_like(w))};
  for (size_t i = 0; i < sequence.size(); ++i) {
    const auto& d = sequence[i];
    const auto dc = d.cuda();
    const double a = cpu.refresh(conv_operator(d, g, 12, 12), d, shape, p);
    const double b = cuda.refresh(conv_operator(dc, g, 12, 12), dc, shape, p);
    EXPECT_EQ(cuda.last_cold(), cpu.last_cold()) << "step " << i;
    EXPECT_EQ(cuda.last_iterations() == 0, cpu.last_iterations() == 0) << "step " << i;
    EXPECT_NEAR(b, a, 2e-3 * a) << "step " << i;
  }
}
