// The datasets of CLI.md's --data, by name: what `train` and the analysis
// commands load for (--data, --data-dir).
#pragma once

#include <string>

#include "sparseloop/data/dataset.h"

namespace sparseloop {

/// Loads train/test splits as uint8 at the dataset's stored size:
///   mnist (28×28; embedded digits when data_dir is empty), cifar10, cifar100
///   (32×32), stl10 (resized to 64×64), folder (centre crop 224 → 64×64).
/// InputError names --data / --data-dir and what is missing.
DataSplits load_dataset_by_name(const std::string& data, const std::string& data_dir);

/// The names load_dataset_by_name accepts.
const std::vector<std::string>& image_dataset_names();

}  // namespace sparseloop
