// Writers for the tests' tiny dataset files, byte for byte in the real
// formats, written independently of the library's own writers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <zlib.h>

namespace sparseloop::test_data {

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// gzip through zlib's own file API (what a real .gz looks like).
inline void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

inline void put_be32(std::string& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((v >> s) & 0xff));
}

/// IDX images: magic 0x803, N, H, W big-endian, then pixels; pixel (i, y, x) = f(i, y, x).
template <typename F>
std::string idx_images(uint32_t n, uint32_t h, uint32_t w, F f, uint32_t magic = 0x803) {
  std::string b;
  put_be32(b, magic);
  put_be32(b, n);
  put_be32(b, h);
  put_be32(b, w);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) b.push_back(static_cast<char>(f(i, y, x)));
  return b;
}

inline std::string idx_labels(const std::vector<uint8_t>& labels, uint32_t magic = 0x801) {
  std::string b;
  put_be32(b, magic);
  put_be32(b, static_cast<uint32_t>(labels.size()));
  for (uint8_t l : labels) b.push_back(static_cast<char>(l));
  return b;
}

/// A .npy v1.0 file: header dict padded with spaces to a multiple of 64, '\n'.
inline std::string npy(const std::string& descr, const std::string& shape, const std::string& data,
                       bool fortran = false) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  const size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');
  std::string b = "\x93NUMPY";
  b.push_back(1);
  b.push_back(0);
  b.push_back(static_cast<char>(dict.size() & 0xff));
  b.push_back(static_cast<char>(dict.size() >> 8));
  return b + dict + data;
}

/// A ustar archive of regular files (the layout `npm pack` writes).
inline std::string tar(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  for (const auto& [name, data] : files) {
    std::string h(512, '\0');
    h.replace(0, name.size(), name);
    h.replace(100, 7, "0000644");
    h.replace(108, 7, "0000000");
    h.replace(116, 7, "0000000");
    char size[16];
    std::snprintf(size, sizeof(size), "%011o", static_cast<unsigned>(data.size()));
    h.replace(124, 11, size);
    h.replace(136, 11, "00000000000");
    h[156] = '0';
    h.replace(257, 6, std::string("ustar\0", 6));
    h.replace(263, 2, "00");
    h.replace(148, 8, "        ");
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    char chk[16];
    std::snprintf(chk, sizeof(chk), "%06o", sum);
    h.replace(148, 6, chk);
    h[154] = '\0';
    h[155] = ' ';
    out += h + data + std::string((512 - data.size() % 512) % 512, '\0');
  }
  return out + std::string(1024, '\0');
}

/// An MNIST-format folder of 28×28 "digits" a classifier can learn: class
/// k = i mod 10 is a bright vertical bar at column 4 + 2k, shifted by one
/// pixel on every other image of a class, on a background that is 0 or
/// (with `textured`) a faint pattern that differs between images.
inline void write_bar_digits(const std::string& dir, uint32_t n_train, uint32_t n_test,
                             bool textured = false) {
  auto pixel = [textured](uint32_t i, uint32_t y, uint32_t x) -> uint32_t {
    const uint32_t k = i % 10, col = 4 + 2 * k + (i / 10) % 2;
    if ((x == col || x == col + 1) && y > 4 && y < 24) return 250;
    return textured ? (x * 3 + y * 5 + i) % 17 : 0;
  };
  auto labels = [](uint32_t n) {
    std::vector<uint8_t> l(n);
    for (uint32_t i = 0; i < n; ++i) l[i] = static_cast<uint8_t>(i % 10);
    return l;
  };
  std::filesystem::create_directories(dir);
  write_bytes(dir + "/train-images-idx3-ubyte", idx_images(n_train, 28, 28, pixel));
  write_bytes(dir + "/train-labels-idx1-ubyte", idx_labels(labels(n_train)));
  write_bytes(dir + "/t10k-images-idx3-ubyte", idx_images(n_test, 28, 28, pixel));
  write_bytes(dir + "/t10k-labels-idx1-ubyte", idx_labels(labels(n_test)));
}

}  // namespace sparseloop::test_data
