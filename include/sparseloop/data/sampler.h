// Deterministic, resumable batch order: the permutation of epoch e depends
// only on (seed, e), so a run resumed at (epoch, batch) sees exactly the
// batches an uninterrupted run would.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "sparseloop/util/random.h"

namespace sparseloop {

class EpochSampler {
 public:
  EpochSampler(int64_t dataset_size, int64_t batch_size, bool shuffle, uint64_t seed,
               bool drop_last = true);

  int64_t batches_per_epoch() const;
  /// Sample indices (int64, CPU) of batch `b` of epoch `epoch`.
  torch::Tensor batch(int64_t epoch, int64_t b) const;
  /// The whole permutation of an epoch.
  torch::Tensor permutation(int64_t epoch) const;
  int64_t batch_size() const { return batch_size_; }
  int64_t dataset_size() const { return size_; }

 private:
  int64_t size_, batch_size_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  // The last permutation asked for: batch() is called once per step, and
  // recomputing an ImageNet-sized shuffle every step would cost milliseconds.
  struct Cache;
  std::shared_ptr<Cache> cache_;
};

}  // namespace sparseloop
