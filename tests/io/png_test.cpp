#include "sparseloop/io/png.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "sparseloop/io/canvas.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

// The library only encodes; this test file decodes with its own private copy
// of stb_image (static functions, so it cannot clash with the library's).
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

using namespace sparseloop;

namespace {

// Decodes PNG bytes into (C, H, W) uint8 with the file's own channel count.
torch::Tensor decode(const std::string& bytes) {
  int w = 0, h = 0, c = 0;
  unsigned char* data = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                              static_cast<int>(bytes.size()), &w, &h, &c, 0);
  if (data == nullptr)
    throw std::runtime_error(std::string("decode failed: ") + stbi_failure_reason());
  auto t = torch::from_blob(data, {h, w, c}, torch::kByte).permute({2, 0, 1}).clone();
  stbi_image_free(data);
  return t;
}

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
    EXPECT_TRUE(torch::equal(decode(bytes), img)) << "channels " << c;
  }
  auto hw = torch::randint(0, 256, {6, 3}, torch::kByte);
  EXPECT_TRUE(torch::equal(decode(encode_png(hw)), hw.unsqueeze(0)));
}

TEST(Png, FloatRoundTripWithinOneLevelAndClamped) {
  auto img = torch::rand({3, 9, 11});
  const auto back = decode(encode_png(img)).to(torch::kFloat) / 255.0;
  EXPECT_LE((back - img).abs().max().item<float>(), 1.0f / 255.0f);
  // Out-of-range values clamp; NaN becomes black; float64 and non-contiguous work.
  auto odd = torch::tensor({-0.5, 1.7, std::nan(""), 0.5}, torch::kDouble).reshape({2, 2}).t();
  const auto d = decode(encode_png(odd));
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
  const auto d = decode(read_file(dir.file("fig.png")));
  EXPECT_EQ(d.sizes(), (std::vector<int64_t>{1, 4, 4}));
  // A folder that cannot exist: an error, and still nothing left behind.
  write_file_atomic(dir.file("plain"), "x");
  EXPECT_ANY_THROW(write_png(dir.file("plain/sub/fig.png"), a));
  EXPECT_EQ(folder_entries(dir.path()), (std::vector<std::string>{"fig.png", "plain"}));
}

TEST(Png, CanvasPngDecodesToTheCanvasPixels) {
  Canvas c(13, 7, Color(10, 20, 30));
  c.set_pixel(3, 2, Color(200, 100, 50));
  const auto d = decode(c.encode_png());
  EXPECT_TRUE(torch::equal(d, c.to_tensor()));
  EXPECT_EQ(d[0][2][3].item<int>(), 200);
}

TEST(Png, MakeGridMatchesTorchvisionGeometry) {
  // 5 images of 4×6, 2 per row, padding 2: (3, 3·6+2, 2·8+2).
  auto images = torch::rand({5, 3, 4, 6});
  const auto g = make_grid(images, 2, 2, 0.5);
  EXPECT_EQ(g.sizes(), (std::vector<int64_t>{3, 20, 18}));
  // Image k sits at row k/2, column k%2.
  for (int64_t k = 0; k < 5; ++k) {
    const int64_t y = (k / 2) * 6 + 2, x = (k % 2) * 8 + 2;
    EXPECT_TRUE(torch::equal(g.narrow(1, y, 4).narrow(2, x, 6), images[k])) << k;
  }
  // Padding everywhere else, including the empty sixth slot.
  EXPECT_FLOAT_EQ(g[0][0][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(g[1][5][9].item<float>(), 0.5f);  // between tiles
  EXPECT_TRUE(g.narrow(1, 14, 4).narrow(2, 10, 6).eq(0.5).all().item<bool>());
  // Fewer images than nrow: one row as wide as the batch.
  EXPECT_EQ(make_grid(torch::rand({3, 1, 2, 2}), 8).sizes(), (std::vector<int64_t>{1, 6, 14}));
  // uint8 is scaled to [0, 1].
  const auto u = make_grid(torch::full({1, 1, 2, 2}, 255, torch::kByte), 1, 0);
  EXPECT_TRUE(u.eq(1.0).all().item<bool>());
  EXPECT_THROW(make_grid(torch::rand({3, 4, 4}), 2), c10::Error);
}

TEST(Png, ImageGridWithRowsPutsLabelsLeftOfUpscaledRows) {
  auto a = torch::rand({4, 1, 28, 28});
  auto b = torch::rand({3, 1, 28, 28});
  RowGridOptions opt;
  const auto g = image_grid_with_rows({a, b}, {"input", "reconstruction"}, opt);
  ASSERT_EQ(g.dim(), 3);
  EXPECT_EQ(g.size(0), 3);
  // Tiles are doubled to 56 px: height = 2·(56 + 2) + 2.
  EXPECT_EQ(g.size(1), 118);
  const int64_t label_col = g.size(2) - (4 * 58 + 2);
  EXPECT_GT(label_col, 60);  // room for "reconstruction"
  // The first tile is the first image, enlarged by nearest neighbour.
  const auto tile = g[0].narrow(0, 2, 56).narrow(1, label_col + 2, 56);
  const auto expect = a[0][0].repeat_interleave(2, 0).repeat_interleave(2, 1);
  EXPECT_LE((tile - expect).abs().max().item<float>(), 0.5f / 255 + 1e-6f);
  // Labels are dark text on the white label column, level with their rows.
  const auto labels = g[0].narrow(1, 0, label_col);
  EXPECT_LT(labels.narrow(0, 2, 56).min().item<float>(), 0.3f);
  EXPECT_LT(labels.narrow(0, 60, 56).min().item<float>(), 0.3f);
  // The missing fourth image of row 2 is background.
  EXPECT_TRUE(g.narrow(1, 60, 56).narrow(2, label_col + 2 + 3 * 58, 56).eq(1.0).all().item<bool>());
  EXPECT_THROW(image_grid_with_rows({a, torch::rand({2, 1, 14, 14})}, {"x", "y"}), c10::Error);
  EXPECT_THROW(image_grid_with_rows({a}, {"x", "y"}), c10::Error);
  // No labels: no label column.
  EXPECT_EQ(image_grid_with_rows({a}, {}).size(2), 4 * 58 + 2);
}

TEST(Png, NormalizeImagesMapsRangeToUnit) {
  auto x = torch::tensor({-1.0, 0.0, 1.0, 3.0});
  EXPECT_TRUE(torch::allclose(normalize_images(x, -1, 1), torch::tensor({0.0f, 0.5f, 1.0f, 1.0f})));
  EXPECT_THROW(normalize_images(x, 1, 1), c10::Error);
}
