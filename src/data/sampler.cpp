#include "sparseloop/data/sampler.h"

#include <mutex>
#include <numeric>
#include <random>

#include <ATen/CPUGeneratorImpl.h>

namespace sparseloop {

struct EpochSampler::Cache {
  std::mutex mutex;
  int64_t epoch = -1;
  torch::Tensor permutation;

  /// Elements [start, start + len) of epoch `e`'s permutation (a copy).
  torch::Tensor slice(int64_t n, uint64_t seed, int64_t e, int64_t start, int64_t len) {
    std::lock_guard<std::mutex> lock(mutex);
    if (epoch != e) {
      permutation = torch::tensor(seeded_permutation(n, mix_seed(seed, static_cast<uint64_t>(e))),
                                  torch::kLong);
      epoch = e;
    }
    return permutation.narrow(0, start, len).clone();
  }
};

EpochSampler::EpochSampler(int64_t dataset_size, int64_t batch_size, bool shuffle, uint64_t seed,
                           bool drop_last)
    : size_(dataset_size),
      batch_size_(batch_size),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last),
      cache_(std::make_shared<Cache>()) {
  TORCH_CHECK(dataset_size >= 0, "EpochSampler: dataset size must be >= 0, got ", dataset_size);
  TORCH_CHECK(batch_size >= 1, "EpochSampler: batch size must be >= 1, got ", batch_size);
}

int64_t EpochSampler::batches_per_epoch() const {
  return drop_last_ ? size_ / batch_size_ : (size_ + batch_size_ - 1) / batch_size_;
}

torch::Tensor EpochSampler::permutation(int64_t epoch) const {
  TORCH_CHECK(epoch >= 0, "EpochSampler: epoch must be >= 0, got ", epoch);
  if (!shuffle_) return torch::arange(size_, torch::kLong);
  return cache_->slice(size_, seed_, epoch, 0, size_);
}

torch::Tensor EpochSampler::batch(int64_t epoch, int64_t b) const {
  const int64_t nb = batches_per_epoch();
  TORCH_CHECK(b >= 0 && b < nb, "EpochSampler: batch ", b, " out of range [0, ", nb, ")");
  const int64_t start = b * batch_size_;
  const int64_t len = std::min(batch_size_, size_ - start);
  TORCH_CHECK(epoch >= 0, "EpochSampler: epoch must be >= 0, got ", epoch);
  if (!shuffle_) return torch::arange(start, start + len, torch::kLong);
  return cache_->slice(size_, seed_, epoch, start, len);
}

}  // namespace sparseloop
