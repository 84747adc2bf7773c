// MNIST in the standard IDX format (LeCun's files, raw or gzip'd):
//   train-images-idx3-ubyte, train-labels-idx1-ubyte,
//   t10k-images-idx3-ubyte,  t10k-labels-idx1-ubyte   (each optionally .gz)
// The embedded digits (`sparseloop data fetch`) are written in this format.
#pragma once

#include <string>

#include "sparseloop/data/dataset.h"

namespace sparseloop {

/// Reads one IDX image file (magic 0x00000803) → (N, 1, H, W) uint8.
/// Throws InputError naming the file for a wrong magic, truncated data, …
torch::Tensor read_idx_images(const std::string& path);
/// Reads one IDX label file (magic 0x00000801) → (N,) int64.
torch::Tensor read_idx_labels(const std::string& path);
/// Writes IDX files (uncompressed) atomically.
void write_idx_images(const std::string& path, const torch::Tensor& images_u8);
void write_idx_labels(const std::string& path, const torch::Tensor& labels);

/// Both splits from a folder holding the four files (raw or .gz).
DataSplits load_mnist(const std::string& dir);

/// Where datasets live by default: $SPARSELOOP_DATA if set, else
/// $XDG_CACHE_HOME/sparseloop, else ~/.cache/sparseloop.
std::string default_data_root();
/// The embedded MNIST digits' folder under the data root.
std::string embedded_mnist_dir();

}  // namespace sparseloop
