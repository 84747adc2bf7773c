#include "sparseloop/io/tfevents.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "sparseloop/io/png.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

// Protocol-buffer wire format (developers.google.com/protocol-buffers/docs/encoding).
void put_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}
void put_key(std::string& s, int field, int wire_type) {
  put_varint(s, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}
void put_bytes(std::string& s, int field, const std::string& bytes) {
  put_key(s, field, 2);
  put_varint(s, bytes.size());
  s += bytes;
}
void put_int(std::string& s, int field, int64_t v) {
  put_key(s, field, 0);
  put_varint(s, static_cast<uint64_t>(v));
}
template <class T>
void put_fixed(std::string& s, int field, T v) {  // double (wire type 1) or float (5)
  put_key(s, field, sizeof(T) == 8 ? 1 : 5);
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  s.append(b, sizeof(T));
}
template <class T>
void put_le(std::string& s, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  s.append(b, sizeof(T));
}

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string tfrecord(const std::string& data) {
  std::string r;
  const uint64_t n = data.size();
  put_le(r, n);
  put_le(r, masked_crc32c(&n, sizeof n));
  r += data;
  put_le(r, masked_crc32c(data.data(), data.size()));
  return r;
}

EventWriter::EventWriter(const std::string& dir) {
  make_dirs(dir);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const double t = wall_time();
  // TensorBoard orders a folder's files by name: the time, then the host
  // and the pid keep two writers of one second apart.
  path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(t)) + "." + host +
          "." + std::to_string(getpid());
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw InputError(path_ + ": cannot open for writing");
  std::string e;
  put_bytes(e, 3, "brain.Event:2");
  write_event(e, 0);
}

void EventWriter::write_event(const std::string& fields, int64_t step, bool flush) {
  std::string event;
  put_fixed(event, 1, wall_time());
  put_int(event, 2, step);
  event += fields;
  out_ << tfrecord(event);
  if (flush) out_.flush();
}

void EventWriter::write_value(const std::string& value, int64_t step, bool flush) {
  std::string summary;
  put_bytes(summary, 1, value);  // Summary.value
  std::string e;
  put_bytes(e, 5, summary);      // Event.summary
  write_event(e, step, flush);
}

void EventWriter::scalar(const std::string& tag, double value, int64_t step) {
  std::string v;
  put_bytes(v, 1, tag);
  put_fixed(v, 2, static_cast<float>(value));
  write_value(v, step, /*flush=*/false);
}

void EventWriter::image(const std::string& tag, const torch::Tensor& image0, int64_t step) {
  const auto image = to_uint8_image(image0);  // (C, H, W)
  std::string img;
  put_int(img, 1, image.size(1));
  put_int(img, 2, image.size(2));
  put_int(img, 3, image.size(0));  // colorspace: 1 gray, 3 RGB, 4 RGBA
  put_bytes(img, 4, encode_png(image));
  std::string v;
  put_bytes(v, 1, tag);
  put_bytes(v, 4, img);
  write_value(v, step);
}

void EventWriter::session_start(int64_t step) {
  std::string log;
  put_int(log, 1, 1);  // SessionLog.START
  std::string e;
  put_bytes(e, 6, log);
  write_event(e, step);
}

}  // namespace sparseloop
