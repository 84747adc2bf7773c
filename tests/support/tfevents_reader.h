// An independent reader of TensorBoard event files for the tests: TFRecord
// framing with both CRCs checked (a bitwise CRC-32C, not the library's
// table), and a generic protocol-buffer walk of the Event fields the library
// writes (io/tfevents.h lists them).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace sparseloop::test_tfevents {

inline uint32_t crc32c_bitwise(const std::string& s) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : s) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}
inline uint32_t masked(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

struct Image {
  int64_t height = 0, width = 0, colorspace = 0;
  std::string png;
};
struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  int64_t session_status = 0;
  std::string tag;
  bool has_scalar = false;
  float scalar = 0;
  bool has_image = false;
  Image image;
};

/// A protocol-buffer message as (field → raw values): varints as uint64,
/// fixed64/fixed32 and length-delimited as bytes.
struct Fields {
  std::multimap<int, uint64_t> varints;
  std::multimap<int, std::string> bytes;
};
inline Fields parse_message(const std::string& m) {
  Fields f;
  size_t i = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (i >= m.size() || shift > 63) throw std::runtime_error("truncated varint");
      const auto b = static_cast<unsigned char>(m[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (i < m.size()) {
    const uint64_t key = varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (wire == 0) {
      f.varints.emplace(field, varint());
    } else if (wire == 1 || wire == 5) {
      const size_t n = wire == 1 ? 8 : 4;
      if (i + n > m.size()) throw std::runtime_error("truncated fixed field");
      f.bytes.emplace(field, m.substr(i, n));
      i += n;
    } else if (wire == 2) {
      const uint64_t n = varint();
      if (i + n > m.size()) throw std::runtime_error("truncated bytes field");
      f.bytes.emplace(field, m.substr(i, n));
      i += n;
    } else {
      throw std::runtime_error("unexpected wire type " + std::to_string(wire));
    }
  }
  return f;
}

/// Every event of `path`; throws on a bad CRC or a malformed message.
inline std::vector<Event> read_events(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<Event> out;
  size_t i = 0;
  while (i < all.size()) {
    if (i + 12 > all.size()) throw std::runtime_error("truncated record header");
    const std::string len_bytes = all.substr(i, 8);
    uint64_t n;
    uint32_t len_crc, data_crc;
    std::memcpy(&n, len_bytes.data(), 8);
    std::memcpy(&len_crc, all.data() + i + 8, 4);
    if (len_crc != masked(crc32c_bitwise(len_bytes))) throw std::runtime_error("bad length CRC");
    if (i + 12 + n + 4 > all.size()) throw std::runtime_error("truncated record");
    const std::string data = all.substr(i + 12, n);
    std::memcpy(&data_crc, all.data() + i + 12 + n, 4);
    if (data_crc != masked(crc32c_bitwise(data))) throw std::runtime_error("bad data CRC");
    i += 12 + n + 4;
    const Fields ev = parse_message(data);
    Event e;
    if (auto it = ev.bytes.find(1); it != ev.bytes.end()) std::memcpy(&e.wall_time, it->second.data(), 8);
    if (auto it = ev.varints.find(2); it != ev.varints.end()) e.step = static_cast<int64_t>(it->second);
    if (auto it = ev.bytes.find(3); it != ev.bytes.end()) e.file_version = it->second;
    if (auto it = ev.bytes.find(6); it != ev.bytes.end()) {
      const Fields log = parse_message(it->second);
      if (auto s = log.varints.find(1); s != log.varints.end()) e.session_status = static_cast<int64_t>(s->second);
    }
    if (auto it = ev.bytes.find(5); it != ev.bytes.end()) {
      const Fields summary = parse_message(it->second);
      auto v = summary.bytes.find(1);
      if (v == summary.bytes.end()) throw std::runtime_error("summary without a value");
      const Fields value = parse_message(v->second);
      e.tag = value.bytes.find(1)->second;
      if (auto s = value.bytes.find(2); s != value.bytes.end()) {
        e.has_scalar = true;
        std::memcpy(&e.scalar, s->second.data(), 4);
      }
      if (auto im = value.bytes.find(4); im != value.bytes.end()) {
        const Fields img = parse_message(im->second);
        e.has_image = true;
        e.image.height = static_cast<int64_t>(img.varints.find(1)->second);
        e.image.width = static_cast<int64_t>(img.varints.find(2)->second);
        e.image.colorspace = static_cast<int64_t>(img.varints.find(3)->second);
        e.image.png = img.bytes.find(4)->second;
      }
    }
    out.push_back(e);
  }
  return out;
}

/// Width and height from a PNG's IHDR (big-endian at bytes 16–23).
inline std::pair<int64_t, int64_t> png_size(const std::string& png) {
  if (png.size() < 24 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0)
    throw std::runtime_error("not a PNG");
  auto be32 = [&](size_t at) {
    return (static_cast<int64_t>(static_cast<unsigned char>(png[at])) << 24) |
           (static_cast<int64_t>(static_cast<unsigned char>(png[at + 1])) << 16) |
           (static_cast<int64_t>(static_cast<unsigned char>(png[at + 2])) << 8) |
           static_cast<int64_t>(static_cast<unsigned char>(png[at + 3]));
  };
  return {be32(16), be32(20)};
}

}  // namespace sparseloop::test_tfevents
