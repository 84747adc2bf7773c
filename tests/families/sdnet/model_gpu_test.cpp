// CUDA paths of the SDNet family; skipped without a CUDA device.
#include <gtest/gtest.h>

#include "sparseloop/families/sdnet/model.h"
#include "sparseloop/util/compat.h"

using namespace sparseloop;

namespace {
bool have_cuda() { return torch::cuda::is_available(); }
}  // namespace

// The same weights give the same logits and stem residuals on CPU and GPU
// (float32; cuDNN's algorithms differ from MKL-DNN's only by rounding).
TEST(SdnetGpu, ForwardMatchesCpu) {
  if (!have_cuda()) GTEST_SKIP() << "no CUDA device";
  for (const std::string name : {"sdnet18", "sdnet18-all", "resnet18"}) {
    torch::manual_seed(0);
    auto o = sdnet_options_for(name);
    o.width = 8;
    Sdnet cpu(o);
    Sdnet gpu(o);
    {
      torch::NoGradGuard g;
      auto src = cpu->named_parameters();
      for (auto& p : gpu->named_parameters()) p.value().copy_(src[p.key()]);
    }
    gpu->to(torch::kCUDA);
    cpu->eval();
    gpu->eval();
    torch::NoGradGuard g;
    auto x = torch::randn({4, 3, 32, 32});
    auto a = cpu->forward_with_residual(x);
    auto b = gpu->forward_with_residual(x.cuda());
    const double scale = a.logits.abs().max().item<double>() + 1e-6;
    EXPECT_LT((a.logits - b.logits.cpu()).abs().max().item<double>() / scale, 1e-3) << name;
    if (a.residual.defined()) {
      EXPECT_LT(((a.residual - b.residual.cpu()).abs() / a.residual).max().item<double>(), 1e-3);
    }
  }
}

// Training steps on the GPU: finite loss, dictionaries stay unit-norm, the
// step policy refreshes L on the device.
TEST(SdnetGpu, TrainStep) {
  if (!have_cuda()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(1);
  auto o = sdnet_options_for("sdnet18-all");
  o.width = 8;
  Sdnet net(o);
  net->to(torch::kCUDA);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  auto x = torch::randn({8, 3, 32, 32}, torch::kCUDA);
  auto y = torch::randint(0, 10, {8}, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kLong));
  for (int i = 0; i < 3; ++i) {
    auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    EXPECT_TRUE(std::isfinite(loss.item<double>()));
    opt.zero_grad();
    loss.backward();
    opt.step();
    net->project_atoms();
  }
  for (auto& l : net->csc_layers()) {
    EXPECT_GT(l->lipschitz(), 0.9);  // unit atoms: L ≥ 1 up to the estimate
    auto norms = l->weight.pow(2).sum({1, 2, 3}).sqrt();
    EXPECT_LT((norms - 1).abs().max().item<double>(), 1e-4);
  }
}
