// A world of one over NCCL (engine/distributed.h), in this process: every
// collective the library sends, on the CPU tensors its bookkeeping uses (row
// counts, stop flags, evaluation totals) and on CUDA tensors. NCCL takes CUDA
// tensors only; Gloo, which the CPU tests run, takes both, so only a CUDA
// machine can catch a CPU tensor reaching NCCL. Skipped without a CUDA device
// or where this build's LibTorch has no NCCL.
#include <cstdlib>
#include <utility>

#include <gtest/gtest.h>

#include "sparseloop/engine/distributed.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"

using namespace sparseloop;

namespace {

/// The launcher's variables of a world of one, unset again on leaving
/// (also when an assertion ends the test early).
struct WorldOfOneEnvironment {
  WorldOfOneEnvironment() {
    for (const auto& [name, value] : kVariables) setenv(name, value, 1);
  }
  ~WorldOfOneEnvironment() {
    for (const auto& [name, value] : kVariables) unsetenv(name);
  }
  static constexpr std::pair<const char*, const char*> kVariables[] = {
      {"RANK", "0"}, {"WORLD_SIZE", "1"}, {"LOCAL_RANK", "0"},
      {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29541"}};
};

}  // namespace

TEST(GpuDistributed, NcclWorldOfOneTakesCpuAndCudaTensors) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  WorldOfOneEnvironment environment;
  DistributedOptions o;
  o.backend = "nccl";
  o.timeout = 60;
  torch::Device device(torch::kCUDA, 0);
  try {
    join_world(o, device);
  } catch (const InputError& e) {
    GTEST_SKIP() << e.what();  // a LibTorch without NCCL
  }

  // All-reduce (sync and async) and broadcast write back into CPU tensors.
  auto flags = torch::tensor({1.0, 0.0, 2.5}, torch::kDouble);
  world().allreduce_sum(flags);
  EXPECT_TRUE(flags.device().is_cpu());
  EXPECT_TRUE(torch::equal(flags, torch::tensor({1.0, 0.0, 2.5}, torch::kDouble)));
  auto totals = torch::arange(4, torch::kLong);
  world().allreduce_sum_async(totals)->wait();
  EXPECT_TRUE(torch::equal(totals, torch::arange(4, torch::kLong)));
  auto l = torch::full({1}, 3.0);
  world().broadcast(l, 0);
  EXPECT_EQ(l.item<float>(), 3.0f);

  // All-gather of rows: results where the input was.
  auto rows = torch::randn({5, 3});
  auto all = world().allgather_rows(rows);
  EXPECT_TRUE(all.device().is_cpu());
  EXPECT_TRUE(torch::equal(all, rows));
  auto rows_gpu = torch::randn({4, 2}, torch::device(device));
  auto all_gpu = world().allgather_rows(rows_gpu);
  EXPECT_TRUE(all_gpu.device().is_cuda());
  EXPECT_TRUE(torch::equal(all_gpu.cpu(), rows_gpu.cpu()));
  auto g = torch::ones({6}, torch::device(device));
  world().allreduce_sum(g);
  EXPECT_EQ(g.sum().item<float>(), 6.0f);
  world().barrier();
  // A world of one is not distributed(), but its collectives went through
  // NCCL: they are counted, where the single-process world counts none.
  EXPECT_EQ(world().traffic().collectives, 6);  // those above; the barrier carries no payload

  // Leave the world while CUDA is alive (not at static destruction).
  set_world(nullptr);
  EXPECT_EQ(world().traffic().collectives, 0);
}
