// The datasets of `--data`, by name (docs/cli.md §4.4): the one place that
// maps a name and a folder to a loader, for every family and analysis.
#pragma once

#include <string>
#include <vector>

#include "sparseloop/data/dataset.h"
#include "sparseloop/data/image_folder.h"

namespace sparseloop {

/// How the datasets that are stored at a size of the user's choosing are read.
struct DatasetOptions {
  int64_t stl10_size = 64;  ///< STL-10's 96×96 images resized to this
  ImageFolderOptions folder;  ///< ImageFolder: centre crop 224 → 64 (CSC-CTRL's ImageNet)
};

/// Loads train/test splits as uint8 at the dataset's stored size:
///   mnist (28×28; the embedded digits when data_dir is empty), cifar10,
///   cifar100 (32×32), stl10 (options.stl10_size), folder (options.folder).
/// InputError names --data / --data-dir and what is missing.
DataSplits load_dataset_by_name(const std::string& data, const std::string& data_dir,
                                const DatasetOptions& options = {});

/// The names load_dataset_by_name accepts.
const std::vector<std::string>& image_dataset_names();

}  // namespace sparseloop
