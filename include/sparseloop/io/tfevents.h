// TensorBoard event files (`events.out.tfevents.<time>.<host>`), the log
// format TensorBoard, tbparse and TensorFlow's summary iterator read.
//
// A file is a sequence of records (TFRecord framing):
//   uint64 length | uint32 masked CRC32C(length) | data | uint32 masked CRC32C(data)
// little-endian, where masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8, and
// each data is one `tensorflow.Event` protocol buffer (tensorflow/core/util/
// event.proto, summary.proto):
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
//             Summary summary = 5; SessionLog session_log = 6; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
//   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3;
//             bytes encoded_image_string = 4; }
//   SessionLog { SessionStatus status = 1; }  (START = 1)
// The few fields are encoded here directly rather than through libprotobuf:
// the LibTorch of a PyTorch install (the CUDA builds) ships no protobuf, and
// generated code would need protoc at build time for five messages.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include <torch/torch.h>

namespace sparseloop {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses.
/// Written here because Debian packages no C/C++ CRC-32C library and zlib's
/// crc32 is the other polynomial.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
/// TFRecord's masked CRC.
uint32_t masked_crc32c(const void* data, size_t size);
/// One TFRecord: length, its masked CRC, the data, its masked CRC.
std::string tfrecord(const std::string& data);

/// Appends events to a new file in `dir` (created). Images and session
/// starts are flushed at once; scalars come in groups (one metrics record)
/// and are flushed by flush(), so that TensorBoard sees a live run and a
/// kill loses at most the group being written.
class EventWriter {
 public:
  explicit EventWriter(const std::string& dir);
  const std::string& path() const { return path_; }

  /// Written unflushed: call flush() after the group.
  void scalar(const std::string& tag, double value, int64_t step);
  void flush() { out_.flush(); }
  /// An image (C, H, W) or (H, W), uint8 or float in [0, 1] (io/png.h), as PNG.
  void image(const std::string& tag, const torch::Tensor& image, int64_t step);
  /// A restarted run (--resume at `step`): TensorBoard drops the earlier
  /// files' events after `step`, which the resumed run writes again.
  void session_start(int64_t step);

 private:
  void write_event(const std::string& fields, int64_t step, bool flush = true);
  /// An event whose summary holds one encoded Summary.Value.
  void write_value(const std::string& value, int64_t step, bool flush = true);
  std::string path_;
  std::ofstream out_;
};

}  // namespace sparseloop
