#include "sparseloop/data/cifar.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "sparseloop/io/npy.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace {
namespace fs = std::filesystem;

constexpr int64_t kRecordPixels = 3 * 32 * 32;

const std::vector<std::string> kCifar10Names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};

const std::vector<std::string> kCifar100Coarse = {"aquatic_mammals",
                                                  "fish",
                                                  "flowers",
                                                  "food_containers",
                                                  "fruit_and_vegetables",
                                                  "household_electrical_devices",
                                                  "household_furniture",
                                                  "insects",
                                                  "large_carnivores",
                                                  "large_man-made_outdoor_things",
                                                  "large_natural_outdoor_scenes",
                                                  "large_omnivores_and_herbivores",
                                                  "medium_mammals",
                                                  "non-insect_invertebrates",
                                                  "people",
                                                  "reptiles",
                                                  "small_mammals",
                                                  "trees",
                                                  "vehicles_1",
                                                  "vehicles_2"};

const std::vector<std::string> kCifar100Fine = {
    "apple",       "aquarium_fish", "baby",      "bear",       "beaver",       "bed",
    "bee",         "beetle",        "bicycle",   "bottle",     "bowl",         "boy",
    "bridge",      "bus",           "butterfly", "camel",      "can",          "castle",
    "caterpillar", "cattle",        "chair",     "chimpanzee", "clock",        "cloud",
    "cockroach",   "couch",         "crab",      "crocodile",  "cup",          "dinosaur",
    "dolphin",     "elephant",      "flatfish",  "forest",     "fox",          "girl",
    "hamster",     "house",         "kangaroo",  "keyboard",   "lamp",         "lawn_mower",
    "leopard",     "lion",          "lizard",    "lobster",    "man",          "maple_tree",
    "motorcycle",  "mountain",      "mouse",     "mushroom",   "oak_tree",     "orange",
    "orchid",      "otter",         "palm_tree", "pear",       "pickup_truck", "pine_tree",
    "plain",       "plate",         "poppy",     "porcupine",  "possum",       "rabbit",
    "raccoon",     "ray",           "road",      "rocket",     "rose",         "sea",
    "seal",        "shark",         "shrew",     "skunk",      "skyscraper",   "snail",
    "snake",       "spider",        "squirrel",  "streetcar",  "sunflower",    "sweet_pepper",
    "table",       "tank",          "telephone", "television", "tiger",        "tractor",
    "train",       "trout",         "tulip",     "turtle",     "wardrobe",     "whale",
    "willow_tree", "wolf",          "woman",     "worm"};

// The folder that holds `marker`: `dir` itself or the subfolder the
// official archive unpacks to.
std::string resolve_dir(const std::string& dir, const std::string& subfolder,
                        const std::string& marker, const std::string& what) {
  std::error_code ec;
  require(fs::is_directory(dir, ec), dir + ": no such folder (expected " + what + ")");
  if (file_exists(dir + "/" + marker)) return dir;
  if (file_exists(dir + "/" + subfolder + "/" + marker)) return dir + "/" + subfolder;
  throw InputError(dir + "/" + marker + ": missing (expected " + what + " in " + dir + " or " +
                   dir + "/" + subfolder + ")");
}

// Class names from the archive's meta file when present (one per line).
std::vector<std::string> names_from(const std::string& path,
                                    const std::vector<std::string>& fallback) {
  std::ifstream in(path);
  if (!in) return fallback;
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names.size() == fallback.size() ? names : fallback;
}

// Records of label bytes then 3072 pixel bytes (R, G, B planes of 32×32,
// row-major). `classes[i]` bounds label byte i (every one is validated);
// appends the pixels to `pixels` and label byte `keep` to `labels`. Plain
// loops over the file's bytes, and one tensor per split built at the end
// (make): a tensor per file and per check (to, max, item, nonzero, clone,
// then cat) copied every image twice more and cost dozens of LibTorch
// calls per file, most of the time of a small file (the fuzz target cifar).
void read_records(const std::string& path, const std::vector<int64_t>& classes, size_t keep,
                  std::string& pixels, std::vector<int64_t>& labels) {
  const std::string b = read_file(path);
  const auto label_bytes = static_cast<int64_t>(classes.size());
  const int64_t rec = label_bytes + kRecordPixels;
  require(!b.empty(), path + ": empty file");
  require(static_cast<int64_t>(b.size()) % rec == 0,
          path + ": size " + std::to_string(b.size()) + " is not a whole number of " +
              std::to_string(rec) + "-byte records (" + std::to_string(label_bytes) +
              " label byte(s) + 3072 pixels); truncated or not the binary version?");
  const int64_t n = static_cast<int64_t>(b.size()) / rec;
  const auto byte = [&](int64_t r, int64_t i) {
    return static_cast<int64_t>(static_cast<unsigned char>(b[r * rec + i]));
  };
  for (size_t i = 0; i < classes.size(); ++i)
    for (int64_t r = 0; r < n; ++r) {
      const int64_t label = byte(r, static_cast<int64_t>(i));
      if (label < classes[i]) continue;
      throw InputError(path + ": record " + std::to_string(r) + " has " +
                       (label_bytes > 1 ? (i == 0 ? "coarse " : "fine ") : "") + "label " +
                       std::to_string(label) + ", expected 0.." +
                       std::to_string(classes[i] - 1) + " (is this the right dataset?)");
    }
  pixels.reserve(pixels.size() + static_cast<size_t>(n * kRecordPixels));
  labels.reserve(labels.size() + static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    pixels.append(b, static_cast<size_t>(r * rec + label_bytes), kRecordPixels);
    labels.push_back(byte(r, static_cast<int64_t>(keep)));
  }
}

ImageDataset make(const std::string& pixels, const std::vector<int64_t>& labels,
                  int64_t classes, const std::string& name, std::vector<std::string> names) {
  const auto n = static_cast<int64_t>(labels.size());
  ImageDataset d;
  d.images = torch::empty({n, 3, 32, 32}, torch::kUInt8);
  std::memcpy(d.images.data_ptr(), pixels.data(), pixels.size());
  d.labels = torch::from_blob(const_cast<int64_t*>(labels.data()), {n}, torch::kLong).clone();
  d.num_classes = classes;
  d.name = name;
  d.class_names = std::move(names);
  return d;
}

}  // namespace

DataSplits load_cifar10(const std::string& dir0) {
  const std::string dir = resolve_dir(dir0, "cifar-10-batches-bin", "test_batch.bin",
                                      "CIFAR-10 binary files data_batch_1..5.bin, test_batch.bin");
  const auto names = names_from(dir + "/batches.meta.txt", kCifar10Names);
  std::string imgs;
  std::vector<int64_t> labs;
  for (int i = 1; i <= 5; ++i) {
    const std::string p = dir + "/data_batch_" + std::to_string(i) + ".bin";
    require(file_exists(p), p + ": missing (CIFAR-10 needs data_batch_1.bin … data_batch_5.bin "
                                "and test_batch.bin)");
    read_records(p, {10}, 0, imgs, labs);
  }
  DataSplits s;
  s.train = make(imgs, labs, 10, "cifar10", names);
  imgs.clear();
  labs.clear();
  read_records(dir + "/test_batch.bin", {10}, 0, imgs, labs);
  s.test = make(imgs, labs, 10, "cifar10", names);
  return s;
}

DataSplits load_cifar100(const std::string& dir0, bool fine) {
  const std::string dir = resolve_dir(dir0, "cifar-100-binary", "train.bin",
                                      "CIFAR-100 binary files train.bin, test.bin");
  const int64_t classes = fine ? 100 : 20;
  const auto names = fine ? names_from(dir + "/fine_label_names.txt", kCifar100Fine)
                          : names_from(dir + "/coarse_label_names.txt", kCifar100Coarse);
  // Each record: coarse label byte, fine label byte, pixels.
  DataSplits s;
  for (const char* split : {"train", "test"}) {
    const std::string p = dir + "/" + split + ".bin";
    require(file_exists(p), p + ": missing (CIFAR-100 needs train.bin and test.bin)");
    std::string imgs;
    std::vector<int64_t> labs;
    read_records(p, {20, 100}, fine ? 1 : 0, imgs, labs);
    (std::string(split) == "train" ? s.train : s.test) =
        make(imgs, labs, classes, fine ? "cifar100" : "cifar100-coarse", names);
  }
  return s;
}

ImageDataset load_cifar10c(const std::string& dir0, const std::string& corruption, int severity) {
  require(severity >= 1 && severity <= 5,
          "CIFAR-10-C severity " + std::to_string(severity) + " is outside 1..5");
  require(
      !corruption.empty() && corruption.find('/') == std::string::npos && corruption != "labels",
      "CIFAR-10-C corruption '" + corruption +
          "' is not a corruption name (e.g. "
          "gaussian_noise, shot_noise, impulse_noise, speckle_noise)");
  const std::string dir = resolve_dir(dir0, "CIFAR-10-C", "labels.npy", "CIFAR-10-C .npy files");
  const std::string path = dir + "/" + corruption + ".npy";
  if (!file_exists(path)) {
    std::set<std::string> have;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".npy" && e.path().stem() != "labels")
        have.insert(e.path().stem().string());
    std::string list;
    for (const auto& h : have) list += (list.empty() ? "" : ", ") + h;
    throw InputError(path + ": missing (corruptions present: " + (list.empty() ? "none" : list) +
                     ")");
  }
  const std::string lpath = dir + "/labels.npy";
  const NpyInfo li = inspect_npy(lpath);
  const NpyInfo xi = inspect_npy(path);
  require(li.shape.size() == 1 && !c10::isFloatingType(li.dtype),
          lpath + ": expected a 1-D integer array of labels, got " + li.descr + " with " +
              std::to_string(li.shape.size()) + " dimensions");
  require(xi.dtype == torch::kByte && xi.shape.size() == 4 && xi.shape[3] == 3,
          path + ": expected uint8 images (N, H, W, 3), got " + xi.descr + " with " +
              std::to_string(xi.shape.size()) + " dimensions");
  const int64_t n = xi.shape[0];
  require(n % 5 == 0 && n > 0,
          path + ": " + std::to_string(n) + " images is not 5 severities of equal size");
  require(li.shape[0] == n, lpath + ": holds " + std::to_string(li.shape[0]) + " labels but " +
                                path + " holds " + std::to_string(n) + " images");
  // Severity s is rows (s−1)·n/5 … s·n/5 (10 000 each in the real files).
  const int64_t per = n / 5, start = (severity - 1) * per;
  ImageDataset d;
  d.images = read_npy_rows(path, start, per).permute({0, 3, 1, 2}).contiguous();
  auto lab = read_npy_rows(lpath, start, per).to(torch::kLong);
  if (per > 0) {
    const int64_t lo = lab.min().item<int64_t>(), hi = lab.max().item<int64_t>();
    require(lo >= 0 && hi < 10,
            lpath + ": label " + std::to_string(lo < 0 ? lo : hi) + " outside 0..9");
  }
  d.labels = lab.contiguous();
  d.num_classes = 10;
  d.name = "cifar10c-" + corruption + "-" + std::to_string(severity);
  d.class_names = kCifar10Names;
  return d;
}

}  // namespace sparseloop
