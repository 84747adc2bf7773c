#include "sparseloop/data/registry.h"

#include "sparseloop/data/cifar.h"
#include "sparseloop/data/fetch.h"
#include "sparseloop/data/image_folder.h"
#include "sparseloop/data/mnist.h"
#include "sparseloop/data/stl10.h"
#include "sparseloop/util/error.h"

namespace sparseloop {

const std::vector<std::string>& image_dataset_names() {
  static const std::vector<std::string> names = {"mnist", "cifar10", "cifar100", "stl10",
                                                 "folder"};
  return names;
}

DataSplits load_dataset_by_name(const std::string& data, const std::string& dir,
                                const DatasetOptions& options) {
  auto need_dir = [&] {
    require(!dir.empty(), "--data " + data + " needs --data-dir (the folder holding its files)");
  };
  if (data == "mnist") return load_mnist(dir.empty() ? ensure_embedded_mnist() : dir);
  if (data == "cifar10") {
    need_dir();
    return load_cifar10(dir);
  }
  if (data == "cifar100") {
    need_dir();
    return load_cifar100(dir);
  }
  if (data == "stl10") {
    need_dir();
    return load_stl10(dir, options.stl10_size);
  }
  if (data == "folder") {
    need_dir();
    return load_image_folder(dir, options.folder);
  }
  std::string all;
  for (const auto& n : image_dataset_names()) all += (all.empty() ? "" : " ") + n;
  throw InputError("--data '" + data + "': not an image dataset (one of: " + all + ")");
}

}  // namespace sparseloop
