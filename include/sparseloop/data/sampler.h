// Deterministic, resumable batch order: the permutation of epoch e depends
// only on (seed, e), so a run resumed at (epoch, batch) sees exactly the
// batches an uninterrupted run would.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

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

/// A CPU generator seeded from (seed, stream, counter), for augmentation
/// and noise that must be reproducible across resume.
torch::Generator make_generator(uint64_t seed, uint64_t stream, uint64_t counter = 0);

/// SplitMix64's output function (Steele, Lea & Flood 2014): a bijective
/// 64-bit mixer, used to derive independent seeds from (seed, stream, …).
uint64_t splitmix64(uint64_t x);
/// Mixes two words into one seed (order matters).
uint64_t mix_seed(uint64_t a, uint64_t b);

/// A permutation of 0 … n−1 that is the same on every platform and LibTorch
/// version: Fisher–Yates driven by std::mt19937_64(seed) (whose output the
/// C++ standard fixes), for i = n−1 down to 1 swap p[i] with p[j], j uniform
/// in [0, i] by rejection sampling on the raw 64-bit output (no
/// std::uniform_int_distribution, whose algorithm differs between libraries).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

}  // namespace sparseloop
