// CIFAR-10 / CIFAR-100 binary files and CIFAR-10-C.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/data_files.h"
#include "sparseloop/data/cifar.h"
#include "sparseloop/io/npy.h"
#include "sparseloop/util/error.h"
#include "support/testing.h"

using namespace sparseloop;
namespace td = sparseloop::test_data;

namespace {

// Pixel byte of record r, channel c, row y, column x.
uint8_t px(int r, int c, int y, int x) { return static_cast<uint8_t>(r * 31 + c * 17 + y * 5 + x); }

// One CIFAR record: label bytes then the R, G, B planes, each 32×32 row-major.
std::string record(const std::vector<uint8_t>& label_bytes, int r) {
  std::string b(label_bytes.begin(), label_bytes.end());
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) b.push_back(static_cast<char>(px(r, c, y, x)));
  return b;
}

void write_cifar10(const std::string& dir, int per_batch) {
  std::filesystem::create_directories(dir);
  for (int i = 1; i <= 5; ++i) {
    std::string b;
    for (int r = 0; r < per_batch; ++r) b += record({static_cast<uint8_t>((r + i) % 10)}, r);
    td::write_bytes(dir + "/data_batch_" + std::to_string(i) + ".bin", b);
  }
  td::write_bytes(dir + "/test_batch.bin", record({7}, 0) + record({2}, 1));
}

std::string le_bytes(const void* p, size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

}  // namespace

TEST(Cifar10, ReadsBatchesWithPlanesInPlace) {
  ts::TempDir dir;
  // The layout of the official archive: a cifar-10-batches-bin/ subfolder.
  write_cifar10(dir.file("cifar-10-batches-bin"), 2);
  auto s = load_cifar10(dir.path());
  ASSERT_EQ(s.train.images.sizes(), (std::vector<int64_t>{10, 3, 32, 32}));
  ASSERT_EQ(s.test.size(), 2);
  // Record 1 of batch 1 is train sample 1; channel G, row 5, column 30.
  EXPECT_EQ(s.train.images[1][1][5][30].item<int>(), px(1, 1, 5, 30));
  EXPECT_EQ(s.train.images[3][2][31][0].item<int>(), px(1, 2, 31, 0));
  EXPECT_EQ(s.train.labels[0].item<int64_t>(), 1);
  EXPECT_EQ(s.train.labels[9].item<int64_t>(), 6);
  EXPECT_TRUE(torch::equal(s.test.labels, torch::tensor({7, 2}, torch::kLong)));
  EXPECT_EQ(s.train.class_names.at(0), "airplane");
  EXPECT_EQ(s.train.num_classes, 10);
}

TEST(Cifar10, RejectsMalformedBatches) {
  ts::TempDir dir;
  write_cifar10(dir.path(), 1);
  const std::string b3 = dir.file("data_batch_3.bin");
  td::write_bytes(b3, record({1}, 0).substr(0, 3000));
  auto what = ts::expect_input_error([&] { load_cifar10(dir.path()); });
  EXPECT_NE(what.find(b3), std::string::npos) << what;
  EXPECT_NE(what.find("3073-byte records"), std::string::npos) << what;
  td::write_bytes(b3, record({10}, 0));
  what = ts::expect_input_error([&] { load_cifar10(dir.path()); });
  EXPECT_NE(what.find("label 10"), std::string::npos) << what;
  std::filesystem::remove(b3);
  what = ts::expect_input_error([&] { load_cifar10(dir.path()); });
  EXPECT_NE(what.find("data_batch_3.bin: missing"), std::string::npos) << what;
  what = ts::expect_input_error([&] { load_cifar10(dir.file("none")); });
  EXPECT_NE(what.find("none"), std::string::npos) << what;
}

TEST(Cifar100, FineAndCoarseLabels) {
  ts::TempDir dir;
  td::write_bytes(dir.file("train.bin"),
                  record({4, 99}, 0) + record({19, 3}, 1) + record({0, 0}, 2));
  td::write_bytes(dir.file("test.bin"), record({5, 50}, 3));
  auto fine = load_cifar100(dir.path());
  EXPECT_TRUE(torch::equal(fine.train.labels, torch::tensor({99, 3, 0}, torch::kLong)));
  EXPECT_EQ(fine.train.num_classes, 100);
  EXPECT_EQ(fine.train.class_names.at(99), "worm");
  EXPECT_EQ(fine.test.images[0][2][4][4].item<int>(), px(3, 2, 4, 4));
  auto coarse = load_cifar100(dir.path(), false);
  EXPECT_TRUE(torch::equal(coarse.train.labels, torch::tensor({4, 19, 0}, torch::kLong)));
  EXPECT_EQ(coarse.train.num_classes, 20);
  EXPECT_EQ(coarse.train.class_names.at(19), "vehicles_2");
  // A CIFAR-10 file in its place: 3073-byte records are not 3074-byte ones.
  td::write_bytes(dir.file("test.bin"), record({1}, 0) + record({1}, 1));
  auto what = ts::expect_input_error([&] { load_cifar100(dir.path()); });
  EXPECT_NE(what.find("test.bin"), std::string::npos) << what;
  td::write_bytes(dir.file("test.bin"), record({20, 1}, 0));
  what = ts::expect_input_error([&] { load_cifar100(dir.path(), false); });
  EXPECT_NE(what.find("coarse label 20"), std::string::npos) << what;
}

TEST(Cifar10C, SeverityRowsAndNhwcToNchw) {
  ts::TempDir dir;
  // 10 images: 2 per severity, 4×5 pixels, 3 channels, NHWC.
  std::string pixels;
  for (int n = 0; n < 10; ++n)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 5; ++x)
        for (int c = 0; c < 3; ++c)
          pixels.push_back(static_cast<char>(n * 20 + y * 5 + x + c * 100));
  td::write_bytes(dir.file("gaussian_noise.npy"), td::npy("|u1", "(10, 4, 5, 3)", pixels));
  const int64_t labels[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  td::write_bytes(dir.file("labels.npy"),
                  td::npy("<i8", "(10,)", le_bytes(labels, sizeof(labels))));
  auto d = load_cifar10c(dir.path(), "gaussian_noise", 3);
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_TRUE(d.images.is_contiguous());
  // Severity 3 = rows 4, 5. Image 5, channel 2, row 3, column 1.
  EXPECT_EQ(d.images[1][2][3][1].item<int>(), (5 * 20 + 3 * 5 + 1 + 200) % 256);
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({4, 5}, torch::kLong)));
  auto what = ts::expect_input_error([&] { load_cifar10c(dir.path(), "fog", 1); });
  EXPECT_NE(what.find("fog.npy: missing"), std::string::npos) << what;
  EXPECT_NE(what.find("gaussian_noise"), std::string::npos) << what;
  EXPECT_THROW(load_cifar10c(dir.path(), "gaussian_noise", 6), InputError);
  td::write_bytes(dir.file("labels.npy"), td::npy("<i8", "(5,)", le_bytes(labels, 40)));
  what = ts::expect_input_error([&] { load_cifar10c(dir.path(), "gaussian_noise", 1); });
  EXPECT_NE(what.find("labels.npy: holds 5 labels"), std::string::npos) << what;
}
