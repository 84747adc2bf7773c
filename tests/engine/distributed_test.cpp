// Data-parallel training's collectives and the layers built on them
// (util/distributed.h, engine/distributed.h, engine/gradient_sync.h,
// engine/batch_norm.h): N ranks of a worker process over Gloo on loopback
// against one process on the whole batch, in float64.
#include "sparseloop/engine/distributed.h"

#include <gtest/gtest.h>

#include "sparseloop/engine/batch_norm.h"
#include "sparseloop/engine/gradient_sync.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/distributed.h"
#include "support/testing.h"
#include "workers/distributed_problems.h"

using namespace sparseloop;
namespace dp = sparseloop::distributed_problems;

namespace {

/// Runs the worker's `check` on `ranks` ranks; returns each rank's results.
std::vector<TensorFile> run_ranks(const ts::TempDir& dir, const std::string& check, int ranks) {
  DistributedOptions o;
  o.timeout = 60;
  const int code = launch_local_ranks({check, dir.path()}, ranks, o, SPARSELOOP_DIST_WORKER_PATH);
  EXPECT_EQ(code, 0) << check << " on " << ranks << " ranks";
  std::vector<TensorFile> out;
  for (int r = 0; r < ranks; ++r)
    out.push_back(load_safetensors(dir.file(check + "-" + std::to_string(r) + ".safetensors")));
  return out;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace

TEST(Distributed, ShardsCoverTheBatchInOrderWithUnequalSizes) {
  std::vector<int64_t> sizes;
  int64_t next = 0;
  for (int r = 0; r < 5; ++r) {
    auto [b, e] = shard_range(12, r, 5);
    EXPECT_EQ(b, next);
    sizes.push_back(e - b);
    next = e;
  }
  EXPECT_EQ(next, 12);
  EXPECT_EQ(sizes, (std::vector<int64_t>{3, 3, 2, 2, 2}));
  EXPECT_EQ(shard_range(3, 4, 5), (std::pair<int64_t, int64_t>{3, 3}));  // an empty shard
}

TEST(Distributed, AWorldOfOneIsTheIdentity) {
  EXPECT_FALSE(distributed());
  auto z = dp::features().requires_grad_(true);
  EXPECT_TRUE(allgather_rows_grad(z).is_same(z));
  EXPECT_TRUE(torch::equal(this_rank_rows(z), z));
  // SyncBatchNorm2d is BatchNorm2d in one process: same outputs and statistics.
  SyncBatchNorm2d sync(dp::channels());
  torch::nn::BatchNorm2d plain(dp::channels());
  sync->to(torch::kDouble);
  plain->to(torch::kDouble);
  dp::init_batch_norm(*sync);
  dp::init_batch_norm(*plain);
  auto x = dp::images();
  EXPECT_TRUE(torch::equal(sync->forward(x), plain->forward(x)));
  EXPECT_TRUE(torch::equal(sync->running_var, plain->running_var));
}

// The differentiable all-gather: every rank computes the same loss of the
// gathered batch, and its gradient for its own rows is the single process's
// gradient for those rows.
TEST(Distributed, AllgatherGradientEqualsOneProcessOnTheWholeBatch) {
  auto z = dp::features().requires_grad_(true);
  auto loss = dp::rate_loss(z);
  loss.backward();
  for (int ranks : {2, 5}) {
    ts::TempDir dir;
    auto results = run_ranks(dir, "allgather", ranks);
    for (int r = 0; r < ranks; ++r) {
      auto [b, e] = shard_range(12, r, ranks);
      EXPECT_LT(max_diff(results[r].get("loss"), loss.detach()), 1e-13) << r;
      EXPECT_LT(max_diff(results[r].get("grad"), z.grad().narrow(0, b, e - b)), 1e-13)
          << "rank " << r << " of " << ranks;
    }
  }
}

// Synchronized BatchNorm on N shards normalizes as BatchNorm2d on the whole
// batch: outputs, input gradients, parameter gradients (summed over ranks by
// GradientSync) and running statistics.
TEST(Distributed, SyncBatchNormEqualsBatchNormOnTheWholeBatch) {
  torch::nn::BatchNorm2d bn(dp::channels());
  bn->to(torch::kDouble);
  dp::init_batch_norm(*bn);
  auto x = dp::images().requires_grad_(true);
  auto y = bn->forward(x);
  (y * dp::probe()).sum().backward();
  for (int ranks : {2, 5}) {
    ts::TempDir dir;
    auto results = run_ranks(dir, "batchnorm", ranks);
    for (int r = 0; r < ranks; ++r) {
      auto [b, e] = shard_range(12, r, ranks);
      const auto& got = results[r];
      EXPECT_LT(max_diff(got.get("y"), y.detach().narrow(0, b, e - b)), 1e-12) << r;
      EXPECT_LT(max_diff(got.get("grad_x"), x.grad().narrow(0, b, e - b)), 1e-12) << r;
      EXPECT_LT(max_diff(got.get("grad_weight"), bn->weight.grad()), 1e-12) << r;
      EXPECT_LT(max_diff(got.get("grad_bias"), bn->bias.grad()), 1e-12) << r;
      EXPECT_LT(max_diff(got.get("running_mean"), bn->running_mean), 1e-12) << r;
      EXPECT_LT(max_diff(got.get("running_var"), bn->running_var), 1e-12) << r;
    }
  }
}

// Each rank's loss is its share of the global mean; the summed gradients are
// the whole batch's, on every rank.
TEST(Distributed, GradientSyncSumsEachRanksShareIntoTheWholeBatchsGradient) {
  auto net = dp::small_net();
  const auto x = dp::inputs(), y = dp::targets();
  ((net->forward(x) - y).pow(2).sum() / 12.0).backward();
  ts::TempDir dir;
  auto results = run_ranks(dir, "gradsync", 3);
  for (int r = 0; r < 3; ++r) {
    for (const auto& p : net->named_parameters())
      EXPECT_LT(max_diff(results[r].get(p.key()), p.value().grad()), 1e-13) << p.key();
    // Every parameter travels once per step: 4·8 + 8 + 8·2 + 2 doubles.
    EXPECT_EQ(results[r].get("bytes").item<double>(), 58.0 * 8);
  }
}

// A global statistic of the gathered outputs, computed on every rank (as
// CSC-CTRL's ΔR): allgather_rows_grad's averaged backward and GradientSync's
// sum together give the one-process gradient of the parameters (a sum in both
// would scale it by the world size, which Adam would hide).
TEST(Distributed, GatheredStatisticHasTheOneProcessParameterGradient) {
  auto net = dp::small_net();
  dp::rate_loss(net->forward(dp::inputs())).backward();
  ts::TempDir dir;
  auto results = run_ranks(dir, "gathered", 3);
  for (int r = 0; r < 3; ++r)
    for (const auto& p : net->named_parameters())
      EXPECT_LT(max_diff(results[r].get(p.key()), p.value().grad()), 1e-13) << p.key();
}
