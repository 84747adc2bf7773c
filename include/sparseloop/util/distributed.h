// The processes of one training run, as every layer sees them: a rank, a
// world size and the few collectives data-parallel training needs. A run on
// one process has a world of one whose collectives do nothing; a distributed
// run installs PyTorch's c10d behind this interface (engine/distributed.h),
// so nothing below the engine depends on c10d or on the launcher.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// A collective launched but not yet waited for.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  /// Blocks until the collective completed; throws on failure or timeout.
  virtual void wait() = 0;
};

/// What a rank has sent into collectives: their number and this rank's
/// payload bytes (an all-reduce's tensor, an all-gather's local rows, a
/// broadcast's tensor), for the communication volume in docs/performance.md.
struct Traffic {
  int64_t collectives = 0;
  int64_t bytes = 0;
};

/// The world of processes: rank r of `size()`, rank 0 the root.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool root() const { return rank() == 0; }

  /// Sums `t` over the ranks, in place; every rank ends with the same values.
  virtual void allreduce_sum(torch::Tensor& t) = 0;
  /// The same, started now and finished by wait(): communication can overlap
  /// computation (the gradient buckets of engine/distributed.h).
  virtual std::unique_ptr<PendingCollective> allreduce_sum_async(torch::Tensor& t) = 0;
  /// Every rank's `local` rows (dim 0; their numbers may differ between
  /// ranks, the other dims may not), concatenated in rank order.
  virtual torch::Tensor allgather_rows(const torch::Tensor& local) = 0;
  /// Copies `root`'s `t` into every rank's `t`.
  virtual void broadcast(torch::Tensor& t, int root = 0) = 0;
  virtual void barrier() = 0;
  /// Records the training step this rank has reached, for the one-line
  /// diagnosis when a rank dies or hangs (failure_context()).
  virtual void report_step(int64_t step) {}
  /// What is known about the other ranks when a collective failed.
  virtual std::string failure_context() { return ""; }
  /// Collectives and bytes since the start (nothing in a world of one).
  const Traffic& traffic() const { return traffic_; }

 protected:
  void count(const torch::Tensor& payload) {
    ++traffic_.collectives;
    traffic_.bytes += static_cast<int64_t>(payload.numel() * payload.element_size());
  }

 private:
  Traffic traffic_;
};

/// The world of this process (a world of one until set_world(), and inside a
/// LocalScope).
Communicator& world();
/// Installs `c` as the world (engine/distributed.h; tests).
void set_world(std::shared_ptr<Communicator> c);

/// True when training runs on more than one process.
inline bool distributed() { return world().size() > 1; }

/// While alive, this thread computes as a world of one (world() is a single
/// process): for passes every rank runs on the same data (an evaluation on
/// every rank, BatchNorm recalibration, data-dependent initialization),
/// where summing over the ranks would count each sample N times.
class LocalScope {
 public:
  LocalScope();
  ~LocalScope();
  LocalScope(const LocalScope&) = delete;
  LocalScope& operator=(const LocalScope&) = delete;

 private:
  bool previous_;
};

/// Rows [begin, end) of a global batch of `n` rows that rank `rank` of
/// `size` takes: contiguous shards, the first n mod size ranks one row larger.
std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int size);

/// This rank's shard of a global batch's rows (shard_range); all of them in a
/// world of one.
torch::Tensor this_rank_rows(const torch::Tensor& global_rows);

/// Sums over the ranks, differentiably: every rank's output is Σ_r x_r, and
/// the gradient of x on each rank is the sum of all ranks' output gradients
/// (each rank's loss uses the global sum).
torch::Tensor allreduce_sum_grad(const torch::Tensor& x);

/// All ranks' rows concatenated (rank order), differentiably: forward
/// gathers the rows of every rank; backward averages the gathered gradient
/// over the ranks and keeps this rank's rows (a reduce-scatter, divided by the
/// world size): the gradient of the ranks' average loss. When every rank
/// computes the same global statistic of the gathered rows (ΔR), that is the
/// one-process gradient for this rank's rows, and GradientSync's sum makes
/// the parameters' one-process gradient. Unequal numbers of rows per rank are
/// allowed. The identity in a world of one.
torch::Tensor allgather_rows_grad(const torch::Tensor& local);

}  // namespace sparseloop
