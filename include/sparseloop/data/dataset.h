// In-memory labelled image datasets. Pixels are stored as uint8 (N, C, H, W)
// (MNIST 10 000 digits: 8 MB; CIFAR-10: 150 MB) and turned into float only a
// batch at a time, so every loader shares one representation.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

struct ImageDataset {
  torch::Tensor images;  ///< (N, C, H, W) uint8, contiguous, CPU
  torch::Tensor labels;  ///< (N,) int64 in [0, num_classes); undefined when unlabelled
  int64_t num_classes = 0;
  std::string name;      ///< "mnist", "cifar10", … (for messages and reports)
  std::vector<std::string> class_names;  ///< optional, size num_classes

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
  bool labelled() const { return labels.defined(); }

  /// Float pixels in [0, 1] of the samples at `indices` (int64, CPU): (B, C, H, W).
  torch::Tensor batch_float(const torch::Tensor& indices) const;
  /// Labels at `indices` (B,), or undefined when unlabelled.
  torch::Tensor batch_labels(const torch::Tensor& indices) const;
  /// The samples at `indices` as a new dataset.
  ImageDataset subset(const torch::Tensor& indices) const;
  /// n samples spread evenly over the file (i·N/n for i < n, in order), or all
  /// of them when n ≤ 0 or n ≥ N. Not the first n: an ImageFolder is read
  /// class by class, so a prefix misses whole classes; on shuffled files
  /// (MNIST, CIFAR) an even spread is as good a sample as a prefix.
  ImageDataset spread(int64_t n) const;
  /// Only the samples whose label is in `classes` (labels kept as they are).
  ImageDataset with_classes(const std::vector<int64_t>& classes) const;
  /// The first `n` samples of every class (a deterministic few-shot subset).
  ImageDataset first_per_class(int64_t n) const;
};

struct DataSplits {
  ImageDataset train;
  ImageDataset test;
};

/// Splits `data` into train/validation deterministically: a seeded
/// permutation, the first `fraction` to train (stratified by class when
/// labelled).
DataSplits split_dataset(const ImageDataset& data, double train_fraction, uint64_t seed);

}  // namespace sparseloop
