// One rank of the distributed tests (tests/engine/distributed_test.cpp): it
// joins the world its launcher describes, runs one check on its shard of a
// fixed float64 problem and writes what it computed to OUT/<check>-<rank>.
// The test compares those files with one process computing on the whole batch.
//   distributed_worker <allgather|batchnorm|gradsync|gathered> OUT_DIR
#include <ATen/CPUGeneratorImpl.h>

#include <iostream>

#include "sparseloop/engine/batch_norm.h"
#include "sparseloop/engine/distributed.h"
#include "sparseloop/engine/gradient_sync.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/distributed.h"
#include "workers/distributed_problems.h"

using namespace sparseloop;
namespace dp = sparseloop::distributed_problems;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: distributed_worker <allgather|batchnorm|gradsync|gathered> OUT_DIR" << std::endl;
    return 2;
  }
  const std::string check = argv[1], out = argv[2];
  torch::set_num_threads(1);
  torch::Device device = torch::kCPU;
  DistributedOptions o;
  o.timeout = 60;
  join_world(o, device);
  const int rank = world().rank(), size = world().size();
  std::vector<std::pair<std::string, torch::Tensor>> result;
  if (check == "allgather") {
    auto z = this_rank_rows(dp::features()).clone().requires_grad_(true);  // (b, d)
    auto loss = dp::rate_loss(allgather_rows_grad(z));
    loss.backward();
    result = {{"loss", loss.detach()}, {"grad", z.grad()}};
  } else if (check == "batchnorm") {
    SyncBatchNorm2d bn(dp::channels());
    bn->to(torch::kDouble);
    dp::init_batch_norm(*bn);
    GradientSync sync(bn->parameters());
    auto x = this_rank_rows(dp::images()).clone().requires_grad_(true);  // (b, C, H, W)
    auto y = bn->forward(x);
    auto loss = (y * this_rank_rows(dp::probe())).sum();
    sync.begin();
    loss.backward();
    sync.finish();
    result = {{"y", y.detach()},          {"grad_x", x.grad()},
              {"grad_weight", bn->weight.grad()}, {"grad_bias", bn->bias.grad()},
              {"running_mean", bn->running_mean}, {"running_var", bn->running_var}};
  } else if (check == "gradsync") {
    auto net = dp::small_net();
    GradientSync sync(net->parameters());
    const auto x = dp::inputs(), y = dp::targets();
    // This rank's share of the global batch's mean loss.
    auto loss = (net->forward(this_rank_rows(x)) - this_rank_rows(y)).pow(2).sum() /
                static_cast<double>(x.size(0));
    sync.begin();
    loss.backward();
    sync.finish();
    for (const auto& p : net->named_parameters()) result.push_back({p.key(), p.value().grad()});
    result.push_back({"bytes", torch::tensor({static_cast<double>(sync.bytes_per_step())})});
  } else if (check == "gathered") {
    // The same global statistic on every rank, of the gathered outputs (as
    // CSC-CTRL's ΔR): its parameter gradient is summed by GradientSync.
    auto net = dp::small_net();
    GradientSync sync(net->parameters());
    auto loss = dp::rate_loss(allgather_rows_grad(net->forward(this_rank_rows(dp::inputs()))));
    sync.begin();
    loss.backward();
    sync.finish();
    for (const auto& p : net->named_parameters()) result.push_back({p.key(), p.value().grad()});
  } else {
    std::cerr << "unknown check " << check << std::endl;
    return 2;
  }
  result.push_back({"world", torch::tensor({static_cast<double>(size)})});
  save_safetensors(out + "/" + check + "-" + std::to_string(rank) + ".safetensors", result);
  world().barrier();
  return 0;
}
