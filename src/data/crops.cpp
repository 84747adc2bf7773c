#include "sparseloop/data/crops.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include "sparseloop/data/image_folder.h"
#include "sparseloop/io/png.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/output_path.h"

namespace sparseloop {

namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

std::vector<std::string> photo_files(const std::string& dir) {
  std::error_code ec;
  require(fs::is_directory(dir, ec),
          "--photos " + dir + ": no such folder (run `sparseloop data fetch` for the embedded "
          "photographs, or give a folder of PNG/JPEG images)");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file() && is_image_file(it->path().string()))
      files.push_back(it->path().string());
  std::sort(files.begin(), files.end());
  return files;
}

/// `count` crops (count, 3, size, size) uint8 from photos (each (3, H, W) float in [0, 1]),
/// photos drawn in proportion to their area.
torch::Tensor cut(const std::vector<torch::Tensor>& photos, int64_t count, const CropOptions& o,
                  std::mt19937_64& rng) {
  std::vector<double> areas;
  for (const auto& p : photos) areas.push_back(static_cast<double>(p.size(1) * p.size(2)));
  std::discrete_distribution<size_t> pick(areas.begin(), areas.end());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto out = torch::empty({count, 3, o.size, o.size}, torch::kByte);
  const double lo = std::log(o.min_scale), hi = std::log(o.max_scale);
  for (int64_t i = 0; i < count; ++i) {
    const auto& p = photos[pick(rng)];
    const int64_t H = p.size(1), W = p.size(2);
    const double s = std::exp(lo + (hi - lo) * unit(rng));
    const int64_t side = std::clamp<int64_t>(std::llround(s * static_cast<double>(o.size)), o.size,
                                             std::min(H, W));
    const auto y = static_cast<int64_t>(unit(rng) * static_cast<double>(H - side + 1));
    const auto x = static_cast<int64_t>(unit(rng) * static_cast<double>(W - side + 1));
    auto region = p.narrow(1, std::min(y, H - side), side).narrow(2, std::min(x, W - side), side);
    // Area averaging: each output pixel is the mean of the pixels it covers (no aliasing).
    auto crop = F::adaptive_avg_pool2d(region.unsqueeze(0), F::AdaptiveAvgPool2dFuncOptions(o.size))
                    .squeeze(0);  // (3, size, size)
    out[i] = crop.mul(255.0).round_().clamp_(0, 255).to(torch::kByte);
  }
  return out;
}

void write_folder(const std::string& dir, const std::string& split, const torch::Tensor& images,
                  const torch::Tensor& labels, const std::vector<std::string>& names) {
  // Every cluster's folder in both splits, empty or not: an ImageFolder's
  // classes are its folders, and the held-out photos need not show every
  // cluster (the test split would otherwise have fewer classes than train).
  for (const auto& n : names) make_dirs(dir + "/" + split + "/" + n);
  for (int64_t i = 0; i < images.size(0); ++i) {
    const std::string cls = dir + "/" + split + "/" + names[labels[i].item<int64_t>()];
    char name[32];
    std::snprintf(name, sizeof name, "/%06lld.png", static_cast<long long>(i));
    write_png(cls + name, images[i]);
  }
}

}  // namespace

torch::Tensor crop_features(const torch::Tensor& crops) {
  auto x = crops.to(torch::kDouble).div(255.0);                       // (B, 3, S, S)
  auto rgb = x.mean({2, 3});                                           // (B, 3)
  auto lum = 0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2);  // (B, S, S)
  auto std = lum.flatten(1).std(1, /*unbiased=*/false).unsqueeze(1);   // (B, 1)
  auto gx = (lum.narrow(2, 1, lum.size(2) - 1) - lum.narrow(2, 0, lum.size(2) - 1)).abs();
  auto gy = (lum.narrow(1, 1, lum.size(1) - 1) - lum.narrow(1, 0, lum.size(1) - 1)).abs();
  auto grad = (gx.flatten(1).mean(1) + gy.flatten(1).mean(1)).unsqueeze(1);  // (B, 1)
  return torch::cat({rgb, std, grad}, 1);                              // (B, 5)
}

torch::Tensor nearest_centre(const torch::Tensor& features, const torch::Tensor& centres) {
  return torch::cdist(features, centres).argmin(1);  // (N, k) → (N,)
}

torch::Tensor kmeans(const torch::Tensor& features, int64_t k, uint64_t seed) {
  const int64_t n = features.size(0);
  require(k >= 1 && k <= n, "kmeans: " + std::to_string(k) + " clusters of " + std::to_string(n) +
                                " points");
  // k-means++ seeding (Arthur & Vassilvitskii 2007): each next centre drawn
  // with probability ∝ squared distance to the nearest chosen one.
  std::mt19937_64 rng(seed);
  std::vector<int64_t> chosen = {static_cast<int64_t>(rng() % static_cast<uint64_t>(n))};
  auto d2 = (features - features[chosen[0]]).pow(2).sum(1);  // (N,)
  while (static_cast<int64_t>(chosen.size()) < k) {
    const auto w = d2.contiguous();
    const double* p = w.data_ptr<double>();
    std::discrete_distribution<int64_t> pick(p, p + n);
    const int64_t next = pick(rng);
    chosen.push_back(next);
    d2 = torch::minimum(d2, (features - features[next]).pow(2).sum(1));
  }
  auto centres = features.index_select(0, torch::tensor(chosen, torch::kLong)).clone();  // (k, D)
  torch::Tensor assign;
  for (int it = 0; it < 100; ++it) {
    auto next = nearest_centre(features, centres);
    if (assign.defined() && torch::equal(next, assign)) break;
    assign = next;
    for (int64_t c = 0; c < k; ++c) {
      auto members = (assign == c).nonzero().squeeze(1);
      if (members.numel() > 0) centres[c] = features.index_select(0, members).mean(0);
    }
  }
  return centres;
}

void write_cifar10(const std::string& dir, const torch::Tensor& train_images,
                   const torch::Tensor& train_labels, const torch::Tensor& test_images,
                   const torch::Tensor& test_labels, const std::vector<std::string>& names) {
  auto records = [](const torch::Tensor& images, const torch::Tensor& labels, int64_t from,
                    int64_t to) {
    std::string b;
    b.reserve(static_cast<size_t>((to - from) * 3073));
    for (int64_t i = from; i < to; ++i) {
      b.push_back(static_cast<char>(labels[i].item<int64_t>()));
      // One label byte, then the R, G and B planes of 32×32 bytes (the CIFAR-10 binary layout).
      auto img = images[i].contiguous();
      b.append(reinterpret_cast<const char*>(img.data_ptr<uint8_t>()), 3072);
    }
    return b;
  };
  require(train_images.size(1) == 3 && train_images.size(2) == 32 && train_images.size(3) == 32,
          "the CIFAR-10 format holds 3×32×32 images; use --format folder for other sizes");
  make_dirs(dir);
  const int64_t n = train_images.size(0);
  for (int64_t b = 0; b < 5; ++b)
    write_file_atomic(dir + "/data_batch_" + std::to_string(b + 1) + ".bin",
                      records(train_images, train_labels, n * b / 5, n * (b + 1) / 5));
  write_file_atomic(dir + "/test_batch.bin",
                    records(test_images, test_labels, 0, test_images.size(0)));
  std::string meta;
  for (const auto& name : names) meta += name + "\n";
  write_file_atomic(dir + "/batches.meta.txt", meta);
}

nlohmann::json make_crops(const CropOptions& o) {
  require(o.size >= 8, "--size must be >= 8");
  require(o.train >= o.classes && o.test >= 1, "--train must be >= --classes and --test >= 1");
  require(o.classes >= 1 && o.classes <= (o.format == "cifar10" ? 10 : 1000),
          "--classes must be in [1, 10] for the CIFAR-10 format");
  require(o.min_scale >= 1.0 && o.max_scale >= o.min_scale && std::isfinite(o.max_scale),
          "--min-scale must be >= 1 and --max-scale >= --min-scale (finite)");
  require(o.format == "cifar10" || o.format == "folder",
          "--format '" + o.format + "': expected cifar10 or folder");
  require(o.format != "cifar10" || o.size == 32,
          "--size " + std::to_string(o.size) + ": the CIFAR-10 format holds 32×32 images; use --format folder");
  require(!o.out.empty(), "--out DIR is required");
  require_writable_folder_path(o.out, "--out");  // before the photographs are read

  const auto files = photo_files(o.photos);
  require(files.size() >= 2, "--photos " + o.photos + ": " + std::to_string(files.size()) +
                                 " photographs; at least 2 are needed (one to train, one to test)");
  std::set<std::string> held(o.test_photos.begin(), o.test_photos.end());
  if (held.empty())
    for (size_t i = 1; i < files.size(); i += 4) held.insert(fs::path(files[i]).filename().string());
  std::vector<torch::Tensor> train_photos, test_photos;
  nlohmann::json train_names = nlohmann::json::array(), test_names = nlohmann::json::array();
  std::set<std::string> found;
  for (const auto& f : files) {
    const std::string name = fs::path(f).filename().string();
    auto img = read_image(f, 3).to(torch::kFloat).div_(255.0);  // (3, H, W) in [0, 1]
    require(std::min(img.size(1), img.size(2)) >= o.size,
            f + ": " + std::to_string(img.size(2)) + "×" + std::to_string(img.size(1)) +
                " pixels, smaller than a " + std::to_string(o.size) +
                "-pixel crop (give a smaller --size)");
    if (held.count(name)) {
      test_photos.push_back(img);
      test_names.push_back(name);
      found.insert(name);
    } else {
      train_photos.push_back(img);
      train_names.push_back(name);
    }
  }
  for (const auto& h : held)
    require(found.count(h), "--test-photos: no photograph named " + h + " in " + o.photos);
  require(!train_photos.empty(), "--test-photos holds out every photograph: none is left to train");

  std::mt19937_64 rng(o.seed);
  const auto train = cut(train_photos, o.train, o, rng);  // (train, 3, S, S)
  const auto test = cut(test_photos, o.test, o, rng);     // (test, 3, S, S)

  // Labels from k-means on standardised colour/texture features of the training crops.
  const auto ftrain = crop_features(train), ftest = crop_features(test);  // (N, 5)
  const auto mu = ftrain.mean(0), sd = ftrain.std(0).clamp_min(1e-12);
  const auto centres = kmeans((ftrain - mu) / sd, o.classes, o.seed);
  // Clusters numbered by mean luminance of their centre, so label 0 is the darkest.
  const auto order = std::get<1>(((centres * sd + mu).narrow(1, 0, 3).mean(1)).sort());  // (k,)
  const auto rank = torch::empty_like(order).scatter_(0, order, torch::arange(o.classes));
  const auto ltrain = rank.index_select(0, nearest_centre((ftrain - mu) / sd, centres));
  const auto ltest = rank.index_select(0, nearest_centre((ftest - mu) / sd, centres));
  std::vector<std::string> names;
  for (int64_t c = 0; c < o.classes; ++c) names.push_back("cluster-" + std::to_string(c));

  make_dirs(o.out);
  std::error_code ec;
  fs::remove(o.out + "/SOURCE.txt", ec);
  if (o.format == "cifar10") {
    write_cifar10(o.out, train, ltrain, test, ltest, names);
  } else {
    write_folder(o.out, "train", train, ltrain, names);
    write_folder(o.out, "val", test, ltest, names);
  }
  const auto counts = torch::bincount(ltrain, {}, o.classes);
  std::vector<int64_t> per_class(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + o.classes);
  nlohmann::json result = {{"out", o.out},
                           {"format", o.format},
                           {"size", o.size},
                           {"train", o.train},
                           {"test", o.test},
                           {"train_photos", train_names},
                           {"test_photos", test_names},
                           {"classes", per_class},
                           {"seed", o.seed},
                           {"scale", {o.min_scale, o.max_scale}}};
  // SOURCE.txt goes last: its presence marks a complete dataset.
  write_file_atomic(o.out + "/SOURCE.txt",
                    "Crops cut by `sparseloop data crops` (docs/cli.md §8.3) from the photographs "
                    "of " + o.photos + ".\nTraining photographs and test photographs are disjoint; "
                    "labels are k-means clusters of colour and texture, not object classes.\n" +
                        result.dump(2) + "\n");
  return result;
}

}  // namespace sparseloop
