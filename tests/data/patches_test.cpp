// LCN patches (data/patches.h) against a direct computation with explicit
// loops, and patch extraction from photos written as real PNG/JPEG files.
#include "sparseloop/data/patches.h"

#include <gtest/gtest.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <cmath>
#include <filesystem>

#include "sparseloop/util/error.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

/// Writes a (1, H, W) image in [0, 1] as an 8-bit grayscale PNG, or as an
/// RGB JPEG (quality 100, the gray value in every channel).
void write_photo(const std::string& path, const torch::Tensor& img, bool jpeg) {
  auto u8 = img.mul(255).round().clamp(0, 255).to(torch::kUInt8).contiguous();
  const int h = static_cast<int>(img.size(1)), w = static_cast<int>(img.size(2));
  if (!jpeg) {
    ASSERT_NE(stbi_write_png(path.c_str(), w, h, 1, u8.data_ptr<uint8_t>(), w), 0);
    return;
  }
  auto rgb = u8[0].unsqueeze(2).expand({h, w, 3}).contiguous();  // (H, W, 3)
  ASSERT_NE(stbi_write_jpg(path.c_str(), w, h, 3, rgb.data_ptr<uint8_t>(), 100), 0);
}

// 2-D valid correlation of one (H, W) image with a (k, k) kernel, by loops.
std::vector<std::vector<double>> correlate(const std::vector<std::vector<double>>& x,
                                           const std::vector<std::vector<double>>& g) {
  const size_t k = g.size(), H = x.size() - k + 1, W = x[0].size() - k + 1;
  std::vector<std::vector<double>> out(H, std::vector<double>(W, 0.0));
  for (size_t i = 0; i < H; ++i)
    for (size_t j = 0; j < W; ++j)
      for (size_t a = 0; a < k; ++a)
        for (size_t b = 0; b < k; ++b) out[i][j] += g[a][b] * x[i + a][j + b];
  return out;
}

}  // namespace

TEST(Lcn, GaussianKernel) {
  auto g = gaussian_kernel(13, 5.0);
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{1, 1, 13, 13}));
  EXPECT_NEAR(g.sum().item<double>(), 1.0, 1e-6);
  // Separable Gaussian centred at 6: g(6,6)/g(6,7) = exp(1/(2σ²)), symmetric.
  EXPECT_NEAR((g[0][0][6][6] / g[0][0][6][7]).item<double>(), std::exp(1.0 / 50.0), 1e-5);
  EXPECT_NEAR(g[0][0][0][3].item<double>(), g[0][0][12][9].item<double>(), 1e-9);
  EXPECT_NEAR((g[0][0][6][0] / g[0][0][6][6]).item<double>(), std::exp(-36.0 / 50.0), 1e-5);
}

// Every step of the LCN written out with loops on a small batch (k = 5, σ = 2):
// mean map, centred image, local std, batch-mean floor, 1e-4 floor, division.
TEST(Lcn, MatchesDirectComputation) {
  torch::manual_seed(0);
  const int64_t B = 3, S = 16, k = 5, p = 2;
  auto x = torch::randn({B, 1, S, S});
  x[1].mul_(0.05);  // a low-contrast sample, to exercise the floor
  auto r = local_contrast_normalize(x, k, 2.0);
  const int64_t O = S - 2 * (k - 1);
  ASSERT_EQ(r.out.sizes(), (std::vector<int64_t>{B, 1, O, O}));
  auto gt = gaussian_kernel(k, 2.0).to(torch::kDouble)[0][0];
  std::vector<std::vector<double>> g(k, std::vector<double>(k));
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = 0; b < k; ++b) g[a][b] = gt[a][b].item<double>();
  std::vector<std::vector<std::vector<double>>> c_all, m_all, s_all;
  double s_sum = 0;
  for (int64_t n = 0; n < B; ++n) {
    std::vector<std::vector<double>> img(S, std::vector<double>(S));
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S; ++j) img[i][j] = x[n][0][i][j].item<double>();
    auto m = correlate(img, g);  // (S−4)²
    std::vector<std::vector<double>> c(m.size(), std::vector<double>(m.size())), c2 = c;
    for (size_t i = 0; i < m.size(); ++i)
      for (size_t j = 0; j < m.size(); ++j) {
        c[i][j] = img[i + p][j + p] - m[i][j];
        c2[i][j] = c[i][j] * c[i][j];
      }
    auto v = correlate(c2, g);  // O²
    std::vector<std::vector<double>> s(O, std::vector<double>(O));
    for (int64_t i = 0; i < O; ++i)
      for (int64_t j = 0; j < O; ++j) {
        s[i][j] = std::sqrt(std::max(v[i][j], 0.0));
        s_sum += s[i][j];
      }
    c_all.push_back(c);
    m_all.push_back(m);
    s_all.push_back(s);
  }
  const double floor = s_sum / static_cast<double>(B * O * O);
  double worst = 0;
  for (int64_t n = 0; n < B; ++n)
    for (int64_t i = 0; i < O; ++i)
      for (int64_t j = 0; j < O; ++j) {
        const double s = std::max(std::max(s_all[n][i][j], floor), 1e-4);
        const double out = c_all[n][i + p][j + p] / s;
        worst = std::max(worst, std::abs(out - r.out[n][0][i][j].item<double>()));
        worst = std::max(worst, std::abs(m_all[n][i + p][j + p] - r.mean[n][0][i][j].item<double>()));
        worst = std::max(worst, std::abs(s - r.std[n][0][i][j].item<double>()));
      }
  EXPECT_LT(worst, 1e-4);
  // De-whitening restores the centre crop of the input.
  auto back = lcn_dewhiten(r.out, r.mean, r.std);
  auto centre = x.narrow(2, 2 * p, O).narrow(3, 2 * p, O);
  EXPECT_LT((back - centre).abs().max().item<double>(), 1e-5);
  EXPECT_THROW(local_contrast_normalize(x, 4, 2.0), c10::Error);
}

// Photos written as real PNG and JPEG files; patches per split come from
// disjoint bands of every photo: the bands have different contrasts, and
// the local std maps of each split's patches show which band they came from.
TEST(Patches, ReadsPhotosAndCutsDisjointSplits) {
  ts::TempDir dir;
  torch::manual_seed(1);
  PatchOptions o;
  o.resize = 0;  // keep the written size: 300 × 200
  const int64_t H = 200, W = 300, band = 65;  // ⌈1.25 · 52⌉
  auto make_photo = [&] {
    auto img = torch::full({1, H, W}, 0.5);
    auto amp = torch::full({W}, 0.04);                 // train region: low contrast
    amp.narrow(0, W - 2 * band, band).fill_(0.12);     // val band
    amp.narrow(0, W - band, band).fill_(0.30);         // test band
    img += amp.view({1, 1, W}) * torch::randn({1, H, W});
    return img.clamp(0, 1);
  };
  write_photo(dir.file("a.png"), make_photo(), false);
  std::filesystem::create_directories(dir.file("sub"));
  write_photo(dir.file("sub/b.jpg"), make_photo(), true);
  auto photos = read_photos(dir.path(), o);
  ASSERT_EQ(photos.files.size(), 2u);
  EXPECT_EQ(photos.images[0].sizes(), (std::vector<int64_t>{1, H, W}));
  o.min_std = 0.0;
  double level[3];
  for (int split = 0; split < 3; ++split) {
    auto set = extract_lcn_patches(photos, split, 40, o, 7);
    ASSERT_EQ(set.patches.sizes(), (std::vector<int64_t>{40, 1, 28, 28}));
    level[split] = set.std.median().item<double>();
    // Deterministic for a seed.
    auto again = extract_lcn_patches(photos, split, 40, o, 7);
    EXPECT_TRUE(torch::equal(again.patches, set.patches));
  }
  EXPECT_LT(level[0] * 2, level[1]);
  EXPECT_LT(level[1] * 2, level[2]);
  // Kept patches satisfy the std threshold.
  o.min_std = 0.5;
  auto kept = extract_lcn_patches(photos, 0, 30, o, 3);
  auto sd = kept.patches.reshape({30, -1}).std(1);
  EXPECT_GE(sd.min().item<double>(), 0.5);
}

TEST(Patches, RejectsMissingOrTinyPhotos) {
  ts::TempDir dir;
  PatchOptions o;
  EXPECT_THROW(read_photos(dir.file("nope"), o), InputError);
  EXPECT_THROW(read_photos(dir.path(), o), InputError);  // empty folder
  o.resize = 0;
  write_photo(dir.file("small.png"), torch::rand({1, 60, 60}), false);
  try {
    read_photos(dir.path(), o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("small.png"), std::string::npos);
  }
}
