// MNIST IDX files, raw and gzip'd, well-formed and broken.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "support/data_files.h"
#include "sparseloop/data/mnist.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;
namespace td = sparseloop::test_data;

namespace {

uint8_t pixel(uint32_t i, uint32_t y, uint32_t x) {
  return static_cast<uint8_t>(i * 50 + y * 7 + x);
}

// Writes the four files of a 5-train / 3-test MNIST, gzip'd or not.
void write_mnist(const ts::TempDir& dir, bool gz) {
  auto put = [&](const std::string& name, const std::string& bytes) {
    gz ? td::write_gz(dir.file(name + ".gz"), bytes) : td::write_bytes(dir.file(name), bytes);
  };
  put("train-images-idx3-ubyte", td::idx_images(5, 4, 3, pixel));
  put("train-labels-idx1-ubyte", td::idx_labels({3, 1, 4, 1, 5}));
  put("t10k-images-idx3-ubyte", td::idx_images(3, 4, 3, pixel));
  put("t10k-labels-idx1-ubyte", td::idx_labels({9, 2, 6}));
}

// Expects InputError whose message contains every piece of `parts`.
template <typename F>
void expect_input_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

}  // namespace

TEST(Mnist, ReadsRawAndGzipIdentically) {
  for (bool gz : {false, true}) {
    ts::TempDir dir;
    write_mnist(dir, gz);
    auto s = load_mnist(dir.path());
    ASSERT_EQ(s.train.images.sizes(), (std::vector<int64_t>{5, 1, 4, 3}));
    EXPECT_EQ(s.train.images.scalar_type(), torch::kUInt8);
    EXPECT_EQ(s.train.images[2][0][3][1].item<int>(), pixel(2, 3, 1));
    EXPECT_EQ(s.test.images[1][0][0][2].item<int>(), pixel(1, 0, 2));
    EXPECT_TRUE(torch::equal(s.train.labels, torch::tensor({3, 1, 4, 1, 5}, torch::kLong)));
    EXPECT_TRUE(torch::equal(s.test.labels, torch::tensor({9, 2, 6}, torch::kLong)));
    EXPECT_EQ(s.train.num_classes, 10);
    EXPECT_EQ(s.train.name, "mnist");
  }
}

TEST(Mnist, WriterRoundTrips) {
  ts::TempDir dir;
  auto x = torch::randint(0, 256, {7, 1, 5, 6}, torch::kLong).to(torch::kUInt8);
  auto y = torch::tensor({0, 9, 255, 3, 4, 5, 6}, torch::kLong);
  write_idx_images(dir.file("i"), x);
  write_idx_labels(dir.file("l"), y);
  EXPECT_TRUE(torch::equal(read_idx_images(dir.file("i")), x));
  EXPECT_TRUE(torch::equal(read_idx_labels(dir.file("l")), y));
  // Byte-exact header.
  const std::string b = read_file(dir.file("i"));
  EXPECT_EQ(b.substr(0, 16), std::string("\0\0\x08\x03\0\0\0\x07\0\0\0\x05\0\0\0\x06", 16));
  EXPECT_THROW(write_idx_labels(dir.file("l2"), torch::tensor({256}, torch::kLong)), c10::Error);
}

TEST(Mnist, RejectsMalformedFilesNamingThem) {
  ts::TempDir dir;
  const std::string f = dir.file("x-idx3-ubyte");
  td::write_bytes(f, td::idx_images(2, 4, 4, pixel, 0x801));
  expect_input_error([&] { read_idx_images(f); }, {f, "wrong magic", "0x00000801"});
  td::write_bytes(f, td::idx_labels({1, 2}));
  expect_input_error([&] { read_idx_images(f); }, {f, "wrong magic"});
  td::write_bytes(f,
                  td::idx_images(0, 28, 28, pixel).replace(4, 4, std::string("\0\0\xea\x60", 4)) +
                      std::string(1234, '\x01'));
  expect_input_error([&] { read_idx_images(f); },
                     {f, "truncated", "60000 images of 28x28", "1234 bytes"});
  td::write_bytes(f, td::idx_images(2, 4, 4, pixel) + "xx");
  expect_input_error([&] { read_idx_images(f); }, {f, "size mismatch"});
  td::write_bytes(f, std::string("\0\0\x08", 3));
  expect_input_error([&] { read_idx_images(f); }, {f, "truncated"});
  const std::string l = dir.file("l-idx1-ubyte");
  td::write_bytes(l, td::idx_labels({1, 2, 3}).substr(0, 9));
  expect_input_error([&] { read_idx_labels(l); }, {l, "truncated", "3 labels"});
  // A gzip file cut short.
  const std::string g = dir.file("g.gz");
  td::write_gz(g, td::idx_images(50, 8, 8, pixel));
  const std::string full = read_file(g);
  td::write_bytes(g, full.substr(0, full.size() / 2));
  expect_input_error([&] { read_idx_images(g); }, {g, "truncated gzip"});
}

TEST(Mnist, RejectsMissingFilesAndCountMismatch) {
  ts::TempDir dir;
  write_mnist(dir, false);
  td::write_bytes(dir.file("t10k-labels-idx1-ubyte"), td::idx_labels({1, 2}));
  expect_input_error([&] { load_mnist(dir.path()); },
                     {"t10k-labels-idx1-ubyte", "2 labels", "3 images"});
  std::remove(dir.file("t10k-labels-idx1-ubyte").c_str());
  expect_input_error([&] { load_mnist(dir.path()); }, {"t10k-labels-idx1-ubyte", "missing"});
  expect_input_error([&] { load_mnist(dir.file("nowhere")); }, {"nowhere", "no such folder"});
}

TEST(Mnist, DefaultDataRootFollowsTheEnvironment) {
  auto keep = [](const char* n) {
    const char* v = std::getenv(n);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  const auto data = keep("SPARSELOOP_DATA"), xdg = keep("XDG_CACHE_HOME"), home = keep("HOME");
  setenv("SPARSELOOP_DATA", "/d", 1);
  setenv("XDG_CACHE_HOME", "/x", 1);
  setenv("HOME", "/h", 1);
  EXPECT_EQ(default_data_root(), "/d");
  EXPECT_EQ(embedded_mnist_dir(), "/d/mnist");
  unsetenv("SPARSELOOP_DATA");
  EXPECT_EQ(default_data_root(), "/x/sparseloop");
  setenv("XDG_CACHE_HOME", "", 1);
  EXPECT_EQ(default_data_root(), "/h/.cache/sparseloop");
  auto restore = [](const char* n, const std::optional<std::string>& v) {
    v ? setenv(n, v->c_str(), 1) : unsetenv(n);
  };
  restore("SPARSELOOP_DATA", data);
  restore("XDG_CACHE_HOME", xdg);
  restore("HOME", home);
}

// IDX files are not tied to 28×28: any H × W reads at its own size, from raw
// and gzip'd files alike, also under the dotted names some mirrors use.
TEST(Mnist, ReadsOtherImageSizesRawGzipAndDottedNames) {
  for (bool gz : {false, true}) {
    ts::TempDir dir;
    auto put = [&](const std::string& name, const std::string& bytes) {
      gz ? td::write_gz(dir.file(name + ".gz"), bytes) : td::write_bytes(dir.file(name), bytes);
    };
    put("train-images.idx3-ubyte", td::idx_images(4, 5, 7, pixel));
    put("train-labels.idx1-ubyte", td::idx_labels({0, 1, 2, 3}));
    put("t10k-images-idx3-ubyte", td::idx_images(2, 5, 7, pixel));
    put("t10k-labels-idx1-ubyte", td::idx_labels({7, 8}));
    auto s = load_mnist(dir.path());
    ASSERT_EQ(s.train.images.sizes(), (std::vector<int64_t>{4, 1, 5, 7}));
    ASSERT_EQ(s.test.images.sizes(), (std::vector<int64_t>{2, 1, 5, 7}));
    for (uint32_t i = 0; i < 4; ++i)
      for (uint32_t y = 0; y < 5; ++y)
        for (uint32_t x = 0; x < 7; ++x)
          ASSERT_EQ(s.train.images[i][0][y][x].item<int>(), pixel(i, y, x)) << gz;
    EXPECT_TRUE(torch::equal(s.test.labels, torch::tensor({7, 8}, torch::kLong)));
  }
  // gzip is judged by content, not by name: raw bytes in a ".gz" file read too.
  ts::TempDir dir;
  td::write_bytes(dir.file("raw.gz"), td::idx_images(3, 2, 2, pixel));
  EXPECT_EQ(read_idx_images(dir.file("raw.gz")).sizes(), (std::vector<int64_t>{3, 1, 2, 2}));
}

// Labels are unsigned bytes; values past 9 mean an MNIST-format set with more
// classes (EMNIST letters, …): the class count follows the largest label.
TEST(Mnist, LabelsBeyondNineWidenTheClassCount) {
  ts::TempDir dir;
  td::write_bytes(dir.file("train-images-idx3-ubyte"), td::idx_images(3, 4, 4, pixel));
  td::write_bytes(dir.file("train-labels-idx1-ubyte"), td::idx_labels({0, 25, 3}));
  td::write_bytes(dir.file("t10k-images-idx3-ubyte"), td::idx_images(1, 4, 4, pixel));
  td::write_bytes(dir.file("t10k-labels-idx1-ubyte"), td::idx_labels({255}));
  auto s = load_mnist(dir.path());
  EXPECT_EQ(s.train.num_classes, 26);
  EXPECT_EQ(s.train.class_names.size(), 26u);
  EXPECT_EQ(s.test.num_classes, 256);
  EXPECT_EQ(s.test.labels[0].item<int64_t>(), 255);
}

// Every wrong magic number names the file, what was found and what was expected.
TEST(Mnist, WrongMagicNumbersNameTheFileAndWhatItIs) {
  ts::TempDir dir;
  for (bool gz : {false, true}) {
    const std::string f = dir.file(gz ? "m.gz" : "m");
    auto put = [&](const std::string& bytes) {
      gz ? td::write_gz(f, bytes) : td::write_bytes(f, bytes);
    };
    put(td::idx_labels({1, 2}));
    expect_input_error([&] { read_idx_images(f); },
                       {f, "wrong magic number 0x00000801", "that is an IDX label file",
                        "expected 0x00000803"});
    put(td::idx_images(1, 2, 2, pixel));
    expect_input_error([&] { read_idx_labels(f); },
                       {f, "wrong magic number 0x00000803", "that is an IDX image file",
                        "expected 0x00000801"});
    put(td::idx_images(1, 2, 2, pixel, 0x00000D03));  // float pixels
    expect_input_error([&] { read_idx_images(f); }, {f, "IDX data type 0x0000000d"});
    put(td::idx_images(1, 2, 2, pixel, 0x00000804));  // 4 dimensions
    expect_input_error([&] { read_idx_images(f); }, {f, "IDX with 4 dimensions"});
    put("PK\x03\x04 a zip archive, not IDX");
    expect_input_error([&] { read_idx_images(f); }, {f, "wrong magic", "not an IDX file"});
    expect_input_error([&] { read_idx_labels(f); }, {f, "wrong magic", "not an IDX file"});
  }
}

// Headers cut short: empty files, a magic alone, half a header; raw and gzip'd.
TEST(Mnist, TruncatedHeadersNameTheFile) {
  ts::TempDir dir;
  for (bool gz : {false, true}) {
    const std::string f = dir.file(gz ? "h.gz" : "h");
    auto put = [&](const std::string& bytes) {
      gz ? td::write_gz(f, bytes) : td::write_bytes(f, bytes);
    };
    put("");
    expect_input_error([&] { read_idx_images(f); }, {f, "truncated", "0 bytes"});
    expect_input_error([&] { read_idx_labels(f); }, {f, "truncated", "0 bytes"});
    put(td::idx_images(2, 4, 4, pixel).substr(0, 10));
    expect_input_error([&] { read_idx_images(f); }, {f, "truncated", "10 bytes", "needs 16"});
    put(td::idx_labels({1, 2}).substr(0, 6));
    expect_input_error([&] { read_idx_labels(f); }, {f, "truncated", "6 bytes", "needs 8"});
    put(td::idx_images(2, 4, 4, pixel).substr(0, 4));  // the magic alone
    expect_input_error([&] { read_idx_images(f); }, {f, "truncated", "needs 16"});
  }
}

// Bodies shorter or longer than the header says; raw and gzip'd; a header
// whose n·h·w overflows 64 bits is caught without allocating.
TEST(Mnist, TruncatedOrOversizedBodiesNameTheFile) {
  ts::TempDir dir;
  for (bool gz : {false, true}) {
    const std::string f = dir.file(gz ? "b.gz" : "b");
    auto put = [&](const std::string& bytes) {
      gz ? td::write_gz(f, bytes) : td::write_bytes(f, bytes);
    };
    const std::string images = td::idx_images(3, 4, 4, pixel);
    put(images.substr(0, images.size() - 1));
    expect_input_error([&] { read_idx_images(f); },
                       {f, "truncated", "3 images of 4x4", "48 bytes", "47 bytes"});
    put(images + std::string(16, '\0'));  // a fourth image the header does not count
    expect_input_error([&] { read_idx_images(f); }, {f, "size mismatch", "64 bytes"});
    const std::string labels = td::idx_labels({1, 2, 3, 4, 5});
    put(labels.substr(0, labels.size() - 2));
    expect_input_error([&] { read_idx_labels(f); }, {f, "truncated", "5 labels", "3 label bytes"});
    put(labels + "\x01");
    expect_input_error([&] { read_idx_labels(f); }, {f, "size mismatch", "6 label bytes"});
    put(td::idx_images(2, 0, 4, pixel));
    expect_input_error([&] { read_idx_images(f); }, {f, "images of 0x4 pixels"});
    std::string huge = td::idx_images(0, 1, 1, pixel);
    huge.replace(4, 12, std::string(12, '\xff'));  // n = h = w = 2^32 − 1
    put(huge + "abc");
    expect_input_error([&] { read_idx_images(f); }, {f, "truncated", "3 bytes of pixels"});
  }
}

// Through load_mnist, a broken file and a count mismatch in either split name
// the files involved (.gz names included).
TEST(Mnist, LoadMnistNamesTheBrokenFileOfEitherSplit) {
  {
    ts::TempDir dir;
    write_mnist(dir, true);
    td::write_gz(dir.file("train-labels-idx1-ubyte.gz"), td::idx_labels({1, 2, 3, 4}));
    expect_input_error([&] { load_mnist(dir.path()); },
                       {dir.file("train-labels-idx1-ubyte.gz"), "4 labels",
                        dir.file("train-images-idx3-ubyte.gz"), "5 images"});
  }
  {
    ts::TempDir dir;
    write_mnist(dir, false);
    const std::string f = dir.file("t10k-images-idx3-ubyte");
    td::write_bytes(f, td::idx_images(3, 4, 3, pixel).substr(0, 30));
    expect_input_error([&] { load_mnist(dir.path()); }, {f, "truncated"});
  }
  {
    ts::TempDir dir;
    write_mnist(dir, false);
    std::remove(dir.file("train-images-idx3-ubyte").c_str());
    std::filesystem::create_directory(dir.file("train-images-idx3-ubyte"));
    expect_input_error([&] { load_mnist(dir.path()); },
                       {dir.file("train-images-idx3-ubyte"), "folder"});
  }
}

// The two splits of one MNIST-format folder must share the image size: a
// t10k file of another size (files of two datasets mixed up) is rejected,
// naming both files, instead of being evaluated at the wrong scale.
TEST(Mnist, SplitsOfDifferentImageSizesAreRejected) {
  ts::TempDir dir;
  write_mnist(dir, false);  // 4 × 3 images
  td::write_bytes(dir.file("t10k-images-idx3-ubyte"), td::idx_images(3, 28, 28, pixel));
  expect_input_error([&] { load_mnist(dir.path()); },
                     {dir.file("t10k-images-idx3-ubyte"), "28x28",
                      dir.file("train-images-idx3-ubyte"), "4x3"});
}
