// TensorBoard event files (io/tfevents.h), read back by the independent
// reader of tests/support/tfevents_reader.h.
#include "sparseloop/io/tfevents.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "sparseloop/util/fs.h"
#include "support/testing.h"
#include "support/tfevents_reader.h"

using namespace sparseloop;
namespace tt = sparseloop::test_tfevents;

// The CRC-32C check value of the standard catalogue ("123456789" → E3069283)
// and RFC 3720's 32 zero bytes (→ 8A9136AA).
TEST(TfEvents, Crc32cCheckValues) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c("123456789", 9), tt::crc32c_bitwise("123456789"));
}

TEST(TfEvents, ScalarsImagesAndSessionStartReadBack) {
  ts::TempDir dir;
  std::string path;
  {
    EventWriter w(dir.file("tb"));
    path = w.path();
    w.scalar("train/loss", 2.5, 1);
    w.scalar("val/top1", 97.25, 100);
    w.image("atoms/stem", torch::rand({3, 10, 7}), 100);
    w.session_start(50);
  }
  EXPECT_EQ(std::filesystem::path(path).parent_path(), dir.file("tb"));
  EXPECT_EQ(std::filesystem::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);
  const auto events = tt::read_events(path);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_EQ(events[1].tag, "train/loss");
  EXPECT_TRUE(events[1].has_scalar);
  EXPECT_EQ(events[1].scalar, 2.5f);
  EXPECT_EQ(events[1].step, 1);
  EXPECT_GT(events[1].wall_time, 1.7e9);
  EXPECT_EQ(events[2].tag, "val/top1");
  EXPECT_EQ(events[2].scalar, 97.25f);
  EXPECT_EQ(events[2].step, 100);
  ASSERT_TRUE(events[3].has_image);
  EXPECT_EQ(events[3].tag, "atoms/stem");
  EXPECT_EQ(events[3].image.height, 10);
  EXPECT_EQ(events[3].image.width, 7);
  EXPECT_EQ(events[3].image.colorspace, 3);
  EXPECT_EQ(tt::png_size(events[3].image.png), std::make_pair(int64_t{7}, int64_t{10}));
  EXPECT_EQ(ts::decode_png(events[3].image.png).sizes(), torch::IntArrayRef({3, 10, 7}));
  EXPECT_EQ(events[4].session_status, 1);  // SessionLog.START
  EXPECT_EQ(events[4].step, 50);
}

// A flipped byte is caught by the data CRC (the reader is not lenient).
TEST(TfEvents, ReaderRejectsACorruptedRecord) {
  ts::TempDir dir;
  std::string path;
  {
    EventWriter w(dir.file("tb"));
    path = w.path();
    w.scalar("x", 1.0, 1);
  }
  std::string bytes = read_file(path);
  bytes[bytes.size() - 6] ^= 0x20;
  write_file_atomic(path, bytes);
  EXPECT_THROW(tt::read_events(path), std::runtime_error);
}
