#include "sparseloop/io/png.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

std::vector<std::string> folder_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(Png, Uint8RoundTripIsExactForGrayRgbAndRgba) {
  for (int64_t c : {1, 3, 4}) {
    auto img = torch::randint(0, 256, {c, 5, 7}, torch::kByte);
    const auto bytes = encode_png(img);
    ASSERT_EQ(bytes.compare(0, 8, "\x89PNG\r\n\x1a\n", 8), 0);
    EXPECT_TRUE(torch::equal(ts::decode_png(bytes), img)) << "channels " << c;
  }
  auto hw = torch::randint(0, 256, {6, 3}, torch::kByte);
  EXPECT_TRUE(torch::equal(ts::decode_png(encode_png(hw)), hw.unsqueeze(0)));
}

TEST(Png, FloatRoundTripWithinOneLevelAndClamped) {
  auto img = torch::rand({3, 9, 11});
  const auto back = ts::decode_png(encode_png(img)).to(torch::kFloat) / 255.0;
  EXPECT_LE((back - img).abs().max().item<float>(), 1.0f / 255.0f);
  // Out-of-range values clamp; NaN becomes black; float64 and non-contiguous work.
  auto odd = torch::tensor({-0.5, 1.7, std::nan(""), 0.5}, torch::kDouble).reshape({2, 2}).t();
  const auto d = ts::decode_png(encode_png(odd));
  EXPECT_EQ(d[0][0][0].item<int>(), 0);    // −0.5
  EXPECT_EQ(d[0][1][0].item<int>(), 255);  // 1.7 (transposed)
  EXPECT_EQ(d[0][0][1].item<int>(), 0);    // NaN
  EXPECT_EQ(d[0][1][1].item<int>(), 128);  // 0.5 rounds to 128
}

TEST(Png, RejectsShapesItCannotStore) {
  EXPECT_THROW(encode_png(torch::zeros({2, 4, 4})), c10::Error);     // 2 channels
  EXPECT_THROW(encode_png(torch::zeros({1, 3, 4, 4})), c10::Error);  // a batch
  EXPECT_THROW(encode_png(torch::zeros({3, 0, 4})), c10::Error);     // empty
  EXPECT_THROW(encode_png(torch::zeros({3, 4, 4}, torch::kInt)), c10::Error);
}

TEST(Png, WriteIsAtomicAndLeavesNoTemporaryFiles) {
  ts::TempDir dir;
  auto a = torch::rand({3, 8, 8});
  write_png(dir.file("fig.png"), a);
  write_png(dir.file("fig.png"), torch::zeros({1, 4, 4}));  // replaces the first
  EXPECT_EQ(folder_entries(dir.path()), std::vector<std::string>{"fig.png"});
  const auto d = ts::decode_png(read_file(dir.file("fig.png")));
  EXPECT_EQ(d.sizes(), (std::vector<int64_t>{1, 4, 4}));
  // A folder that cannot exist: an error, and still nothing left behind.
  write_file_atomic(dir.file("plain"), "x");
  EXPECT_ANY_THROW(write_png(dir.file("plain/sub/fig.png"), a));
  EXPECT_EQ(folder_entries(dir.path()), (std::vector<std::string>{"fig.png", "plain"}));
}

