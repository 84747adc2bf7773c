// The fixed float64 problems of the distributed tests, shared by the worker
// (one rank's shard) and the test (one process on the whole batch). The
// global batches have 12 rows, so 2 ranks take 6 + 6 and 5 ranks 3 + 3 + 2 + 2 + 2
// (unequal shards).
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace sparseloop::distributed_problems {

inline torch::Generator gen(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

inline torch::Tensor features() {  // (12, 5): features for ΔR-like losses
  return torch::randn({12, 5}, gen(11), torch::kDouble);
}

/// A rate-reduction-like statistic of the whole batch: ½ logdet(I + a ZᵀZ) of
/// the row-normalized features (its gradient couples every row).
inline torch::Tensor rate_loss(const torch::Tensor& z) {
  auto zn = z / z.norm(2, 1, true);
  auto g = torch::eye(z.size(1), z.options()) + 0.8 * zn.t().matmul(zn);
  return 0.5 * torch::logdet(g);
}

inline int64_t channels() { return 3; }

inline torch::Tensor images() {  // (12, 3, 4, 4)
  return torch::randn({12, 3, 4, 4}, gen(12), torch::kDouble) * 2.0 + 0.5;
}

inline torch::Tensor probe() { return torch::randn({12, 3, 4, 4}, gen(13), torch::kDouble); }

template <class BatchNorm>
void init_batch_norm(BatchNorm& bn) {
  torch::NoGradGuard g;
  bn.weight.copy_(torch::rand({channels()}, gen(14), torch::kDouble) + 0.5);
  bn.bias.copy_(torch::randn({channels()}, gen(15), torch::kDouble));
}

inline torch::nn::Sequential small_net() {
  torch::manual_seed(16);
  torch::nn::Sequential net(torch::nn::Linear(4, 8), torch::nn::Tanh(), torch::nn::Linear(8, 2));
  net->to(torch::kDouble);
  return net;
}

inline torch::Tensor inputs() { return torch::randn({12, 4}, gen(17), torch::kDouble); }
inline torch::Tensor targets() { return torch::randn({12, 2}, gen(18), torch::kDouble); }

}  // namespace sparseloop::distributed_problems
