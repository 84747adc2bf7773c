// Natural-image datasets cut from photographs (issue 14: CSC-CTRL on natural
// images with the data this machine has). Photographs — the embedded ones of
// Debian's scikit-image / scikit-learn packages (data/fetch.h), or any folder
// of images — are cut into size×size RGB crops at random positions and
// scales and written in the real CIFAR-10 binary format (size 32, read by
// `--data cifar10`) or as an ImageFolder (`--data folder`). Whole photographs
// are held out for testing, so no test crop shares a pixel with a training one.
//
// Labels: the crops have no classes, but CSC-CTRL's per-class objective and
// figures want some; each crop is labelled by k-means (k = classes) on its
// colour and texture (mean R, G, B, luminance std, mean gradient magnitude,
// standardised), fitted on the training crops, clusters numbered by mean
// luminance; test crops take the nearest centre.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

struct CropOptions {
  std::string photos;  ///< folder of photographs (searched recursively)
  std::string out;     ///< dataset folder to write
  int64_t size = 32;   ///< crop side in pixels (CIFAR-10 format: 32)
  int64_t train = 15000;
  int64_t test = 3000;
  /// File names (no folder) of the photographs held out for testing; empty:
  /// every 4th photograph in name order, starting with the 2nd.
  std::vector<std::string> test_photos;
  /// A crop covers size·s pixels of its photograph, s log-uniform in
  /// [min_scale, max_scale] (clipped to the photograph), averaged down to size.
  double min_scale = 1.0;
  double max_scale = 4.0;
  int64_t classes = 10;
  std::string format = "cifar10";  ///< cifar10 | folder
  uint64_t seed = 0;
};

/// Colour-and-texture features of crops (B, 3, S, S) uint8 → (B, 5) float64:
/// mean R, G, B in [0, 1], luminance std, mean |∇ luminance|.
torch::Tensor crop_features(const torch::Tensor& crops);

/// k-means with k-means++ seeding from `seed` and Lloyd iterations to a fixed
/// point (at most 100) on features (N, D) float64 → centres (k, D).
torch::Tensor kmeans(const torch::Tensor& features, int64_t k, uint64_t seed);

/// The index of the nearest centre (k, D) for each row of features (N, D) → (N,) int64.
torch::Tensor nearest_centre(const torch::Tensor& features, const torch::Tensor& centres);

/// Writes CIFAR-10 binary files into `dir`: data_batch_1..5.bin (the training
/// images split in 5 near-equal parts), test_batch.bin, batches.meta.txt
/// (one class name per line). Images (N, 3, 32, 32) uint8, labels (N,) in [0, 9].
void write_cifar10(const std::string& dir, const torch::Tensor& train_images,
                   const torch::Tensor& train_labels, const torch::Tensor& test_images,
                   const torch::Tensor& test_labels, const std::vector<std::string>& names);

/// Cuts the dataset; returns {"out", "format", "train", "test", "train_photos",
/// "test_photos", "classes": [counts]}. InputError names the folder or photo
/// for a missing folder, too few photographs, a photograph smaller than the
/// crop, an unknown --test-photos name or bad options. The folder is complete
/// only when SOURCE.txt (written last) is there.
nlohmann::json make_crops(const CropOptions& options);

}  // namespace sparseloop
