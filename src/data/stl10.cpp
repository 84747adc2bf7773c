#include "sparseloop/data/stl10.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "sparseloop/data/transforms.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace {
namespace fs = std::filesystem;

constexpr int64_t kSide = 96;
constexpr int64_t kImageBytes = 3 * kSide * kSide;
const std::vector<std::string> kNames = {"airplane", "bird",  "car",    "cat",  "deer",
                                         "dog",      "horse", "monkey", "ship", "truck"};

std::string resolve_dir(const std::string& dir, const std::string& marker) {
  std::error_code ec;
  require(fs::is_directory(dir, ec), dir + ": no such folder (expected STL-10 binary files)");
  if (file_exists(dir + "/" + marker)) return dir;
  if (file_exists(dir + "/stl10_binary/" + marker)) return dir + "/stl10_binary";
  throw InputError(dir + "/" + marker + ": missing (expected the STL-10 binary files in " + dir +
                   " or " + dir + "/stl10_binary)");
}

// Reads an X file: per image 3 channels of 96×96 bytes in column-major
// order (MATLAB's layout), i.e. byte (c, w, h); transposed to (c, h, w).
// Streams `chunk` images at a time so that the 2.7 GB unlabelled file is
// never held twice, resizing each chunk on the way.
torch::Tensor read_images(const std::string& path, int64_t resize) {
  std::error_code ec;
  const uint64_t size = fs::is_regular_file(path, ec) ? fs::file_size(path, ec) : 0;
  require(fs::is_regular_file(path, ec), path + ": missing");
  require(size > 0 && size % kImageBytes == 0,
          path + ": size " + std::to_string(size) + " is not a whole number of 27648-byte " +
              "images (3×96×96); truncated or not the binary version?");
  const auto n = static_cast<int64_t>(size / kImageBytes);
  const int64_t side = resize > 0 ? resize : kSide;
  auto out = torch::empty({n, 3, side, side}, torch::kUInt8);
  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), path + ": cannot open");
  constexpr int64_t kChunk = 1000;
  // No bigger than the file: a 1000-image buffer (27.6 MB) for a small file
  // made the fuzz target `stl10` run at 12 inputs a second.
  auto buf = torch::empty({std::min(kChunk, n), 3, kSide, kSide}, torch::kUInt8);
  for (int64_t s = 0; s < n; s += kChunk) {
    const int64_t len = std::min(kChunk, n - s);
    in.read(static_cast<char*>(buf.data_ptr()), static_cast<std::streamsize>(len * kImageBytes));
    require(in.gcount() == len * kImageBytes, path + ": read error (file changed while reading?)");
    // Transposed straight into place when no resize is asked for (one copy,
    // not two).
    auto chunk = buf.narrow(0, 0, len).transpose(2, 3);
    if (side == kSide)
      out.narrow(0, s, len).copy_(chunk);
    else
      out.narrow(0, s, len).copy_(resize_images_u8(chunk.contiguous(), side, side));
  }
  return out;
}

torch::Tensor read_labels(const std::string& path, int64_t expected, const std::string& xpath) {
  const std::string b = read_file(path);
  require(static_cast<int64_t>(b.size()) == expected, path + ": holds " + std::to_string(b.size()) +
                                                          " labels but " + xpath + " holds " +
                                                          std::to_string(expected) + " images");
  // Stored 1..10; checked and shifted to 0..9 in one pass over the bytes
  // (the tensor version took six LibTorch calls a file).
  auto lab = torch::empty({expected}, torch::kLong);
  int64_t* out = lab.data_ptr<int64_t>();
  for (int64_t i = 0; i < expected; ++i) {
    const int64_t v = static_cast<unsigned char>(b[static_cast<size_t>(i)]);
    if (v < 1 || v > 10)
      throw InputError(path + ": label " + std::to_string(v) + " at " + std::to_string(i) +
                       ", expected 1..10");
    out[i] = v - 1;
  }
  return lab;
}

std::vector<std::string> class_names(const std::string& dir) {
  std::ifstream in(dir + "/class_names.txt");
  std::vector<std::string> names;
  std::string line;
  while (in && std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names.size() == kNames.size() ? names : kNames;
}

ImageDataset load_split(const std::string& dir, const std::string& split, int64_t resize) {
  const std::string xpath = dir + "/" + split + "_X.bin", ypath = dir + "/" + split + "_y.bin";
  ImageDataset d;
  d.images = read_images(xpath, resize);
  d.labels = read_labels(ypath, d.images.size(0), xpath);
  d.num_classes = 10;
  d.name = "stl10";
  d.class_names = class_names(dir);
  return d;
}

}  // namespace

DataSplits load_stl10(const std::string& dir0, int64_t resize) {
  TORCH_CHECK(resize >= 0, "load_stl10: resize must be >= 0, got ", resize);
  const std::string dir = resolve_dir(dir0, "train_X.bin");
  return {load_split(dir, "train", resize), load_split(dir, "test", resize)};
}

int64_t count_stl10_unlabeled(const std::string& dir0) {
  const std::string dir = resolve_dir(dir0, "train_X.bin");
  const std::string path = dir + "/unlabeled_X.bin";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return 0;
  const uint64_t size = fs::file_size(path, ec);
  require(size % kImageBytes == 0, path + ": size " + std::to_string(size) +
                                       " is not a whole number of 27648-byte " +
                                       "images (3×96×96); truncated?");
  return static_cast<int64_t>(size / kImageBytes);
}

ImageDataset load_stl10_unlabeled(const std::string& dir0, int64_t resize) {
  TORCH_CHECK(resize >= 0, "load_stl10_unlabeled: resize must be >= 0, got ", resize);
  const std::string dir = resolve_dir(dir0, "unlabeled_X.bin");
  ImageDataset d;
  d.images = read_images(dir + "/unlabeled_X.bin", resize);
  d.name = "stl10-unlabeled";
  d.num_classes = 10;
  d.class_names = class_names(dir);
  return d;
}

}  // namespace sparseloop
