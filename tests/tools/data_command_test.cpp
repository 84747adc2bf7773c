// `sparseloop data check` through the built binary.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/data_files.h"
#include "support/testing.h"

namespace td = sparseloop::test_data;

namespace {

std::string cifar_record(uint8_t label) {
  std::string b(1, static_cast<char>(label));
  b.append(3072, '\x40');
  return b;
}

}  // namespace

TEST(DataCommand, CheckReportsAGoodCifar10) {
  ts::TempDir dir;
  for (int i = 1; i <= 5; ++i)
    td::write_bytes(dir.file("data_batch_" + std::to_string(i) + ".bin"),
                    cifar_record(static_cast<uint8_t>(i)) + cifar_record(0));
  td::write_bytes(dir.file("test_batch.bin"), cifar_record(9));
  auto r = ts::run_cli("data check --data cifar10 --data-dir " + dir.path() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["splits"]["train"]["count"].get<int64_t>(), 10);
  EXPECT_EQ(j["splits"]["test"]["count"].get<int64_t>(), 1);
  EXPECT_EQ(j["splits"]["train"]["shape"], nlohmann::json({3, 32, 32}));
  EXPECT_EQ(j["splits"]["train"]["class_counts"][0].get<int64_t>(), 5);
  EXPECT_EQ(j["num_classes"].get<int64_t>(), 10);
  EXPECT_NE(r.err.find("airplane 5"), std::string::npos) << r.err;
}

// Each test runs the binary once or twice: loading LibTorch costs about a second.
TEST(DataCommand, CheckNamesTheBrokenFileWithExitTwo) {
  ts::TempDir dir;
  auto ones = [](auto...) { return 1; };
  td::write_bytes(dir.file("train-images-idx3-ubyte"), td::idx_images(2, 28, 28, ones));
  td::write_bytes(dir.file("train-labels-idx1-ubyte"), td::idx_labels({1, 2}));
  td::write_bytes(dir.file("t10k-images-idx3-ubyte"),
                  td::idx_images(3, 28, 28, ones).substr(0, 500));
  td::write_bytes(dir.file("t10k-labels-idx1-ubyte"), td::idx_labels({1, 2, 3}));
  auto r = ts::run_cli("data check --data mnist --data-dir " + dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("t10k-images-idx3-ubyte: truncated"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 2) << r.err;  // heading + error
}

TEST(DataCommand, CheckNamesTheMissingFile) {
  ts::TempDir dir;
  td::write_bytes(dir.file("data_batch_1.bin"), cifar_record(1));
  auto r = ts::run_cli("data check --data cifar10 --data-dir " + dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("test_batch.bin: missing"), std::string::npos) << r.err;
}

TEST(DataCommand, CheckRejectsAnUnknownDataset) {
  ts::TempDir dir;
  auto r = ts::run_cli("data check --data imagenet --data-dir " + dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--data"), std::string::npos) << r.err;
}

TEST(DataCommand, CheckNamesAMissingFolder) {
  ts::TempDir dir;
  auto r = ts::run_cli("data check --data cifar10 --data-dir " + dir.file("nope"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
}

namespace {

void write_cifar10c(const ts::TempDir& dir) {
  td::write_bytes(dir.file("labels.npy"), td::npy("|u1", "(5,)", std::string("\0\1\2\3\4", 5)));
  td::write_bytes(dir.file("fog.npy"), td::npy("|u1", "(5, 2, 2, 3)", std::string(60, '\x10')));
}

}  // namespace

TEST(DataCommand, CheckCifar10cHeaders) {
  ts::TempDir dir;
  write_cifar10c(dir);
  auto r = ts::run_cli("data check --data cifar10c --data-dir " + dir.path() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["corruptions"][0]["name"], "fog");
}

TEST(DataCommand, CheckCifar10cOneSeverity) {
  ts::TempDir dir;
  write_cifar10c(dir);
  auto r = ts::run_cli("data check --data cifar10c --data-dir " + dir.path() +
                       " --corruption fog --severity 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["splits"]["severity2"]["count"].get<int64_t>(), 1);
}

TEST(DataCommand, CheckCifar10cNamesAWrongDtype) {
  ts::TempDir dir;
  write_cifar10c(dir);
  td::write_bytes(dir.file("snow.npy"), td::npy("<f4", "(5, 2, 2, 3)", std::string(240, '\0')));
  auto r = ts::run_cli("data check --data cifar10c --data-dir " + dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("snow.npy"), std::string::npos) << r.err;
}
