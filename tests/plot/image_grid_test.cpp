// Pictures made of images (plot/image_grid.h) and the canvas's PNG bytes.
#include "sparseloop/plot/image_grid.h"

#include <gtest/gtest.h>

#include "sparseloop/plot/canvas.h"
#include "support/testing.h"

using namespace sparseloop;

TEST(ImageGrid, CanvasPngDecodesToTheCanvasPixels) {
  Canvas c(13, 7, Color(10, 20, 30));
  c.set_pixel(3, 2, Color(200, 100, 50));
  const auto d = ts::decode_png(c.encode_png());
  EXPECT_TRUE(torch::equal(d, c.to_tensor()));
  EXPECT_EQ(d[0][2][3].item<int>(), 200);
}

TEST(ImageGrid, MakeGridMatchesTorchvisionGeometry) {
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

TEST(ImageGrid, ImageGridWithRowsPutsLabelsLeftOfUpscaledRows) {
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

TEST(ImageGrid, NormalizeImagesMapsRangeToUnit) {
  auto x = torch::tensor({-1.0, 0.0, 1.0, 3.0});
  EXPECT_TRUE(torch::allclose(normalize_images(x, -1, 1), torch::tensor({0.0f, 0.5f, 1.0f, 1.0f})));
  EXPECT_THROW(normalize_images(x, 1, 1), c10::Error);
}
