#include "sparseloop/data/mnist.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/gzip.h"

namespace sparseloop {
namespace {

constexpr uint32_t kImageMagic = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kLabelMagic = 0x00000801;  // unsigned byte, 1 dimension

uint32_t read_be32(const std::string& b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

void append_be32(std::string& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

// What a wrong magic number most likely means, for the error message.
std::string magic_hint(uint32_t magic) {
  if (magic == kImageMagic) return " (that is an IDX image file)";
  if (magic == kLabelMagic) return " (that is an IDX label file)";
  if ((magic >> 16) != 0) return " (not an IDX file)";
  if (((magic >> 8) & 0xff) != 0x08)
    return " (IDX data type " + hex32((magic >> 8) & 0xff) + ", expected 0x08 unsigned byte)";
  return " (IDX with " + std::to_string(magic & 0xff) + " dimensions)";
}

// Reads the file and checks magic + header length; returns the bytes.
std::string read_idx(const std::string& path, uint32_t want_magic, size_t header_bytes,
                     const char* kind) {
  std::string b = read_file_maybe_gzip(path);
  require(b.size() >= 4, path + ": truncated: " + std::to_string(b.size()) +
                             " bytes, too short for an IDX header");
  const uint32_t magic = read_be32(b, 0);
  require(magic == want_magic, path + ": wrong magic number " + hex32(magic) + magic_hint(magic) +
                                   ", expected " + hex32(want_magic) + " for IDX " + kind);
  require(b.size() >= header_bytes, path + ": truncated: " + std::to_string(b.size()) +
                                        " bytes, the IDX header alone needs " +
                                        std::to_string(header_bytes));
  return b;
}

std::string find_mnist_file(const std::string& dir, const std::string& base) {
  for (const std::string& name : {base, base + ".gz"}) {
    const std::string p = dir + "/" + name;
    if (file_exists(p)) return p;
  }
  // Some mirrors spell the dot: train-images.idx3-ubyte.
  std::string dotted = base;
  dotted[dotted.find("-idx")] = '.';
  for (const std::string& name : {dotted, dotted + ".gz"}) {
    const std::string p = dir + "/" + name;
    if (file_exists(p)) return p;
  }
  throw InputError(dir + "/" + base + ": missing (expected " + base + " or " + base +
                   ".gz; MNIST needs train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                   "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)");
}

ImageDataset load_split(const std::string& dir, const std::string& prefix) {
  const std::string ipath = find_mnist_file(dir, prefix + "-images-idx3-ubyte");
  const std::string lpath = find_mnist_file(dir, prefix + "-labels-idx1-ubyte");
  ImageDataset d;
  d.images = read_idx_images(ipath);
  d.labels = read_idx_labels(lpath);
  require(d.labels.size(0) == d.images.size(0),
          lpath + ": holds " + std::to_string(d.labels.size(0)) + " labels but " + ipath +
              " holds " + std::to_string(d.images.size(0)) + " images");
  // Ten digit classes; more when the file is an MNIST-format set with more
  // classes (EMNIST letters, …).
  const int64_t max_label = d.labels.numel() ? d.labels.max().item<int64_t>() : 0;
  d.num_classes = std::max<int64_t>(10, max_label + 1);
  for (int64_t c = 0; c < d.num_classes; ++c) d.class_names.push_back(std::to_string(c));
  d.name = "mnist";
  return d;
}

}  // namespace

torch::Tensor read_idx_images(const std::string& path) {
  const std::string b = read_idx(path, kImageMagic, 16, "images (unsigned byte, 3 dimensions)");
  const uint64_t n = read_be32(b, 4), h = read_be32(b, 8), w = read_be32(b, 12);
  require(h > 0 && w > 0, path + ": header says images of " + std::to_string(h) + "x" +
                              std::to_string(w) + " pixels");
  // n, h, w < 2^32 each: the product needs 128 bits to be overflow-free.
  const unsigned __int128 need = static_cast<unsigned __int128>(n) * h * w;
  const uint64_t have = b.size() - 16;
  require(need == have,
          path + (need > have ? ": truncated: header says " : ": size mismatch: header says ") +
              std::to_string(n) + " images of " + std::to_string(h) + "x" + std::to_string(w) +
              " (" +
              std::to_string(static_cast<uint64_t>(std::min<unsigned __int128>(need, UINT64_MAX))) +
              " bytes) but the file holds " + std::to_string(have) + " bytes of pixels");
  auto out =
      torch::empty({static_cast<int64_t>(n), 1, static_cast<int64_t>(h), static_cast<int64_t>(w)},
                   torch::kUInt8);
  if (have) std::memcpy(out.data_ptr<uint8_t>(), b.data() + 16, have);
  return out;
}

torch::Tensor read_idx_labels(const std::string& path) {
  const std::string b = read_idx(path, kLabelMagic, 8, "labels (unsigned byte, 1 dimension)");
  const uint64_t n = read_be32(b, 4);
  const uint64_t have = b.size() - 8;
  require(n == have,
          path + (n > have ? ": truncated: header says " : ": size mismatch: header says ") +
              std::to_string(n) + " labels but the file holds " + std::to_string(have) +
              " label bytes");
  // Unsigned bytes: every value is < 256 by construction.
  auto bytes = torch::empty({static_cast<int64_t>(n)}, torch::kUInt8);
  if (have) std::memcpy(bytes.data_ptr<uint8_t>(), b.data() + 8, have);
  return bytes.to(torch::kLong);
}

void write_idx_images(const std::string& path, const torch::Tensor& images_u8) {
  TORCH_CHECK(images_u8.scalar_type() == torch::kUInt8, "write_idx_images: expected uint8, got ",
              images_u8.scalar_type());
  TORCH_CHECK(images_u8.dim() == 3 || (images_u8.dim() == 4 && images_u8.size(1) == 1),
              "write_idx_images: expected (N, H, W) or (N, 1, H, W), got ", images_u8.sizes());
  auto x = images_u8.cpu().contiguous();
  const int64_t n = x.size(0), h = x.size(-2), w = x.size(-1);
  TORCH_CHECK(n < (int64_t{1} << 32) && h < (int64_t{1} << 32) && w < (int64_t{1} << 32),
              "write_idx_images: dimensions must fit 32 bits");
  std::string b;
  b.reserve(16 + static_cast<size_t>(x.numel()));
  append_be32(b, kImageMagic);
  append_be32(b, static_cast<uint32_t>(n));
  append_be32(b, static_cast<uint32_t>(h));
  append_be32(b, static_cast<uint32_t>(w));
  b.append(reinterpret_cast<const char*>(x.data_ptr<uint8_t>()), static_cast<size_t>(x.numel()));
  write_file_atomic(path, b);
}

void write_idx_labels(const std::string& path, const torch::Tensor& labels) {
  TORCH_CHECK(labels.dim() == 1, "write_idx_labels: expected (N,), got ", labels.sizes());
  TORCH_CHECK(!labels.is_floating_point() && !labels.is_complex(),
              "write_idx_labels: expected integer labels, got ", labels.scalar_type());
  auto l = labels.cpu().to(torch::kLong).contiguous();
  if (l.numel())
    TORCH_CHECK(l.min().item<int64_t>() >= 0 && l.max().item<int64_t>() < 256,
                "write_idx_labels: labels must be in [0, 255]");
  auto bytes = l.to(torch::kUInt8).contiguous();
  std::string b;
  append_be32(b, kLabelMagic);
  append_be32(b, static_cast<uint32_t>(l.numel()));
  b.append(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()),
           static_cast<size_t>(bytes.numel()));
  write_file_atomic(path, b);
}

DataSplits load_mnist(const std::string& dir) {
  std::error_code ec;
  require(std::filesystem::is_directory(dir, ec),
          dir + ": no such folder (expected the four MNIST IDX files in it)");
  DataSplits s{load_split(dir, "train"), load_split(dir, "t10k")};
  // Files of two different datasets mixed up in one folder would otherwise
  // be accepted, and the model evaluated at another image size than trained on.
  const auto &a = s.train.images, &b = s.test.images;
  if (a.size(2) != b.size(2) || a.size(3) != b.size(3)) {
    auto hw = [](const torch::Tensor& t) {
      return std::to_string(t.size(2)) + "x" + std::to_string(t.size(3));
    };
    throw InputError(find_mnist_file(dir, "t10k-images-idx3-ubyte") + ": images of " + hw(b) +
                     " but " + find_mnist_file(dir, "train-images-idx3-ubyte") +
                     " holds images of " + hw(a) + " (both splits must share the image size)");
  }
  return s;
}

std::string default_data_root() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? v : "";
  };
  if (auto v = env("SPARSELOOP_DATA"); !v.empty()) return v;
  if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return v + "/sparseloop";
  if (auto v = env("HOME"); !v.empty()) return v + "/.cache/sparseloop";
  throw InputError("no data folder: set SPARSELOOP_DATA (or HOME) or pass the folder explicitly");
}

std::string embedded_mnist_dir() { return default_data_root() + "/mnist"; }

}  // namespace sparseloop
