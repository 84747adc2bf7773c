// STL-10 binary files: column-major images, labels 1..10.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/data_files.h"
#include "sparseloop/data/stl10.h"
#include "sparseloop/util/error.h"
#include "support/testing.h"

using namespace sparseloop;
namespace td = sparseloop::test_data;

namespace {

// Image n as STL-10 stores it: for each channel, 96×96 bytes column by
// column (byte index c·9216 + x·96 + y holds pixel (c, y, x)).
std::string stl_image(int n) {
  std::string b(3 * 96 * 96, '\0');
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 96; ++x)
      for (int y = 0; y < 96; ++y)
        b[c * 9216 + x * 96 + y] = static_cast<char>((n * 40 + c * 60 + y + 2 * x) % 256);
  return b;
}

void write_stl10(const std::string& dir) {
  std::filesystem::create_directories(dir);
  td::write_bytes(dir + "/train_X.bin", stl_image(0) + stl_image(1) + stl_image(2));
  td::write_bytes(dir + "/train_y.bin", std::string("\x01\x0a\x05", 3));
  td::write_bytes(dir + "/test_X.bin", stl_image(3));
  td::write_bytes(dir + "/test_y.bin", std::string("\x02", 1));
  td::write_bytes(dir + "/unlabeled_X.bin", stl_image(4) + stl_image(5));
}

}  // namespace

TEST(Stl10, ColumnMajorPixelsLandAtTheirRowAndColumn) {
  ts::TempDir dir;
  write_stl10(dir.file("stl10_binary"));
  auto s = load_stl10(dir.path(), 0);
  ASSERT_EQ(s.train.images.sizes(), (std::vector<int64_t>{3, 3, 96, 96}));
  // Pixel (c = 1, y = 10, x = 70) of image 2: a transposed read would give
  // the value for y = 70, x = 10 instead.
  EXPECT_EQ(s.train.images[2][1][10][70].item<int>(), (2 * 40 + 60 + 10 + 140) % 256);
  EXPECT_EQ(s.train.images[2][1][70][10].item<int>(), (2 * 40 + 60 + 70 + 20) % 256);
  EXPECT_EQ(s.test.images[0][2][95][0].item<int>(), (3 * 40 + 120 + 95) % 256);
  EXPECT_TRUE(torch::equal(s.train.labels, torch::tensor({0, 9, 4}, torch::kLong)));
  EXPECT_TRUE(torch::equal(s.test.labels, torch::tensor({1}, torch::kLong)));
  EXPECT_EQ(s.train.class_names.at(7), "monkey");
  EXPECT_EQ(count_stl10_unlabeled(dir.path()), 2);
}

TEST(Stl10, ResizesBilinearly) {
  ts::TempDir dir;
  write_stl10(dir.path());
  auto s = load_stl10(dir.path(), 64);
  ASSERT_EQ(s.train.images.sizes(), (std::vector<int64_t>{3, 3, 64, 64}));
  auto u = load_stl10_unlabeled(dir.path(), 32);
  ASSERT_EQ(u.images.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_FALSE(u.labelled());
  // Channel 0 of image 4 is a linear ramp: y + 2x + 160 (no wrap below 256
  // for small y, x), so bilinear keeps it linear: pixel (0, 0) of the
  // 3× smaller image samples at (1, 1) in the original.
  EXPECT_NEAR(u.images[0][0][0][0].item<int>(), 160 + 1 + 2, 1);
}

TEST(Stl10, RejectsMalformedFiles) {
  ts::TempDir dir;
  write_stl10(dir.path());
  auto expect = [&](const std::string& file, const std::string& text) {
    try {
      load_stl10(dir.path(), 0);
      ADD_FAILURE() << "no InputError";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(file), std::string::npos) << what;
      EXPECT_NE(what.find(text), std::string::npos) << what;
    }
  };
  td::write_bytes(dir.file("train_y.bin"), std::string("\x01\x00\x05", 3));
  expect(dir.file("train_y.bin"), "label 0");
  td::write_bytes(dir.file("train_y.bin"), std::string("\x01\x02", 2));
  expect(dir.file("train_y.bin"), "holds 2 labels");
  td::write_bytes(dir.file("train_X.bin"), stl_image(0).substr(100));
  expect(dir.file("train_X.bin"), "not a whole number");
  td::write_bytes(dir.file("unlabeled_X.bin"), "xyz");
  EXPECT_THROW(count_stl10_unlabeled(dir.path()), InputError);
  std::filesystem::remove(dir.file("train_X.bin"));
  expect(dir.file("train_X.bin"), "missing");
}
