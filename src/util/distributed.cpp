#include "sparseloop/util/distributed.h"

#include <mutex>

namespace sparseloop {
namespace {

/// One process: every collective is the identity.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(torch::Tensor&) override {}
  std::unique_ptr<PendingCollective> allreduce_sum_async(torch::Tensor&) override {
    struct Done final : PendingCollective {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  torch::Tensor allgather_rows(const torch::Tensor& local) override { return local; }
  void broadcast(torch::Tensor&, int) override {}
  void barrier() override {}
};

std::shared_ptr<Communicator>& current() {
  static std::shared_ptr<Communicator> c = std::make_shared<SingleProcess>();
  return c;
}

thread_local bool t_local = false;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct AllreduceSum : torch::autograd::Function<AllreduceSum> {
  static torch::Tensor forward(AutogradContext*, const torch::Tensor& x) {
    auto out = x.detach().clone();
    world().allreduce_sum(out);
    return out;
  }
  static variable_list backward(AutogradContext*, variable_list grads) {
    auto g = grads[0].contiguous().clone();
    world().allreduce_sum(g);
    return {g};
  }
};

struct AllgatherRows : torch::autograd::Function<AllgatherRows> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& local) {
    // The row counts of every rank, to find this rank's rows in backward.
    auto count = torch::full({1}, local.size(0), torch::kLong);
    auto counts = world().allgather_rows(count);  // (size,)
    const int r = world().rank();
    ctx->saved_data["begin"] = counts.narrow(0, 0, r).sum().item<int64_t>();
    ctx->saved_data["rows"] = local.size(0);
    return world().allgather_rows(local.detach().contiguous());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // The gradient of the ranks' *average* loss: every rank that computes
    // the same global statistic (ΔR) then gets the one-process gradient for
    // its rows, which GradientSync's sum turns into the parameters' gradient.
    auto g = grads[0].contiguous().clone();
    world().allreduce_sum(g);
    g.div_(world().size());
    return {g.narrow(0, ctx->saved_data["begin"].toInt(), ctx->saved_data["rows"].toInt())};
  }
};

}  // namespace

Communicator& world() {
  static SingleProcess alone;
  return t_local ? alone : *current();
}

LocalScope::LocalScope() : previous_(t_local) { t_local = true; }
LocalScope::~LocalScope() { t_local = previous_; }

void set_world(std::shared_ptr<Communicator> c) {
  current() = c ? std::move(c) : std::make_shared<SingleProcess>();
}

std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int size) {
  const int64_t base = n / size, extra = n % size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

torch::Tensor this_rank_rows(const torch::Tensor& global_rows) {
  if (world().size() == 1) return global_rows;
  const auto [begin, end] = shard_range(global_rows.size(0), world().rank(), world().size());
  return global_rows.narrow(0, begin, end - begin);
}

torch::Tensor allreduce_sum_grad(const torch::Tensor& x) {
  if (world().size() == 1) return x;
  return AllreduceSum::apply(x);
}

torch::Tensor allgather_rows_grad(const torch::Tensor& local) {
  if (world().size() == 1) return local;
  return AllgatherRows::apply(local);
}

}  // namespace sparseloop
