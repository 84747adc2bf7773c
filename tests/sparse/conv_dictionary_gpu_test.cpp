// CUDA checks; skipped cleanly on machines without a CUDA device.
#include <gtest/gtest.h>

#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/csc_conv2d.h"

using namespace sparseloop;

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

TEST(GpuConvDictionary, SynthesisMatchesCpu) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(0);
  auto W = torch::randn({32, 16, 4, 4});
  auto z = torch::randn({8, 32, 8, 8});
  ConvGeometry g{2, 1};
  auto cpu = conv_synthesis(z, W, g, 16, 16);
  auto gpu = conv_synthesis(z.cuda(), W.cuda(), g, 16, 16).cpu();
  EXPECT_LT(((cpu - gpu).abs().max() / cpu.abs().max()).item<double>(), 1e-4);
}

TEST(GpuCscConv2d, ForwardBackwardMatchesCpu) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(0);
  CscConv2d cpu(CscConv2dOptions(3, 16, 3, CscOptions().steps(4).lambda(0.05)).padding(1));
  auto gpu = std::dynamic_pointer_cast<CscConv2dImpl>(cpu->clone(torch::kCUDA));
  auto x = torch::randn({4, 3, 16, 16});
  auto zc = cpu->forward(x);
  auto zg = gpu->forward(x.cuda());
  EXPECT_LT((zc - zg.cpu()).abs().max().item<double>(), 1e-3);
  zc.sum().backward();
  zg.sum().backward();
  EXPECT_LT(((cpu->weight.grad() - gpu->weight.grad().cpu()).abs().max() /
             cpu->weight.grad().abs().max())
                .item<double>(),
            1e-3);
}
