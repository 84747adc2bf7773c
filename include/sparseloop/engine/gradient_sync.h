// Gradient synchronization of data-parallel training, as PyTorch's
// DistributedDataParallel does it (Li et al., "PyTorch Distributed", VLDB
// 2020, §3.2), which the C++ frontend lacks: parameters are grouped into
// buckets of about 25 MB in reverse order of registration (the order their
// gradients become ready in backward); a hook on each parameter copies its
// gradient into its bucket, and a full bucket's all-reduce starts at once, so
// communication overlaps the rest of the backward pass. finish() waits and
// writes the sums into .grad.
//
// Each rank's loss is its share of the global loss (a global-batch mean
// divided across ranks; or a global ΔR computed on every rank, whose
// gathered rows' averaged backward, util/distributed.h allgather_rows_grad,
// leaves each rank its share), so gradients are summed, never averaged.
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

class GradientSync {
 public:
  /// Hooks on `parameters` (nothing at all in a world of one).
  explicit GradientSync(std::vector<torch::Tensor> parameters,
                        int64_t bucket_bytes = int64_t{25} << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  /// Arms the hooks for the next backward pass (after zero_grad).
  void begin();
  /// Starts the buckets still waiting (parameters that got no gradient count
  /// as zeros), waits for every bucket, and replaces each parameter's .grad by
  /// the sum over the ranks. Call after backward, before the optimizer step.
  void finish();

  /// Bytes all-reduced per finish() (the communication volume of a step).
  int64_t bytes_per_step() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Copies rank 0's parameters and buffers into every rank's `module` (at the
/// start of training, so that every rank starts from the same weights).
void broadcast_module(torch::nn::Module& module);

}  // namespace sparseloop
