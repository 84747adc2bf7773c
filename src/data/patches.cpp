#include "sparseloop/data/patches.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "sparseloop/data/image_folder.h"
#include "sparseloop/util/error.h"

namespace sparseloop {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

torch::Tensor gaussian_kernel(int64_t size, double sigma) {
  TORCH_CHECK(size >= 1 && sigma > 0, "gaussian_kernel: size >= 1 and sigma > 0 required");
  const double c = (size - 1) / 2.0;
  auto i = torch::arange(size, torch::kDouble);
  auto g = torch::exp(-(i - c).pow(2) / (2 * sigma * sigma));  // (k,)
  auto k2 = torch::outer(g, g);                                  // (k, k)
  return (k2 / k2.sum()).to(torch::kFloat).reshape({1, 1, size, size});
}

LcnResult local_contrast_normalize(const torch::Tensor& x, int64_t k, double sigma) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 1, "local_contrast_normalize: expected (B, 1, H, W), got ",
              x.sizes());
  TORCH_CHECK(k % 2 == 1, "local_contrast_normalize: the kernel size must be odd, got ", k);
  TORCH_CHECK(x.size(2) > 2 * (k - 1) && x.size(3) > 2 * (k - 1),
              "local_contrast_normalize: images ", x.sizes(), " are too small for two valid ",
              k, "×", k, " convolutions");
  using torch::indexing::Slice;
  const int64_t p = k / 2;
  auto g = gaussian_kernel(k, sigma).to(x.options());
  auto crop = [p](const torch::Tensor& t) {  // t[..., p:−p, p:−p]
    return t.index({Slice(), Slice(), Slice(p, t.size(2) - p), Slice(p, t.size(3) - p)});
  };
  auto m = F::conv2d(x, g);                                   // (B, 1, H−2p, W−2p)
  auto c = crop(x) - m;                                       // (B, 1, H−2p, W−2p)
  auto s = F::conv2d(c * c, g).clamp_min(0).sqrt();           // (B, 1, H−4p, W−4p)
  auto floor = s.mean();                                      // over the whole batch
  s = torch::where(s > floor, s, floor).clamp_min(1e-4);
  LcnResult r;
  r.out = crop(c) / s;                                        // (B, 1, H−4p, W−4p)
  r.mean = crop(m).contiguous();
  r.std = s.contiguous();
  return r;
}

torch::Tensor lcn_dewhiten(const torch::Tensor& out, const torch::Tensor& mean,
                           const torch::Tensor& std) {
  return out * std + mean;
}

PatchSet PatchSet::subset(const torch::Tensor& indices) const {
  return {patches.index_select(0, indices), mean.index_select(0, indices),
          std.index_select(0, indices)};
}

namespace {

int64_t band_size(const PatchOptions& o) {
  return static_cast<int64_t>(std::ceil(1.25 * static_cast<double>(o.crop_size())));
}

/// Region [begin, end) along the longer side of a photo for `split`.
std::pair<int64_t, int64_t> region(int64_t long_side, int split, int64_t band) {
  if (split == 0) return {0, long_side - 2 * band};
  if (split == 1) return {long_side - 2 * band, long_side - band};
  return {long_side - band, long_side};
}

}  // namespace

PhotoSet read_photos(const std::string& dir, const PatchOptions& o) {
  std::error_code ec;
  require(fs::is_directory(dir, ec), "--data-dir " + dir + ": no such folder of photos");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file() && is_image_file(it->path().string())) files.push_back(it->path().string());
  std::sort(files.begin(), files.end());
  if (o.max_images > 0 && static_cast<int64_t>(files.size()) > o.max_images)
    files.resize(static_cast<size_t>(o.max_images));
  require(!files.empty(), "--data-dir " + dir + ": no PNG/JPEG/BMP photos found");
  const int64_t crop = o.crop_size(), band = band_size(o);
  PhotoSet set;
  for (const auto& f : files) {
    auto img = read_image(f, 1).to(torch::kFloat).div_(255.0);  // (1, H, W) in [0, 1]
    const int64_t H = img.size(1), W = img.size(2);
    if (o.resize > 0 && std::min(H, W) != o.resize) {
      // torchvision Resize(size): shorter side → size, longer side scaled, truncated.
      const int64_t h = H <= W ? o.resize : static_cast<int64_t>(o.resize * static_cast<double>(H) / W);
      const int64_t w = H <= W ? static_cast<int64_t>(o.resize * static_cast<double>(W) / H) : o.resize;
      img = F::interpolate(img.unsqueeze(0), F::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{h, w})
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false)
                                                 .antialias(true))
                .squeeze(0)
                .clamp_(0, 1);  // (1, h, w)
    }
    const int64_t s = std::min(img.size(1), img.size(2)), l = std::max(img.size(1), img.size(2));
    require(s >= crop && l - 2 * band >= crop,
            f + ": photo of " + std::to_string(img.size(2)) + "×" + std::to_string(img.size(1)) +
                " pixels (after resizing) is too small for " + std::to_string(crop) +
                "-pixel crops in three regions (needs a side of at least " +
                std::to_string(crop + 2 * band) + ")");
    set.images.push_back(img.contiguous());
    set.files.push_back(f);
  }
  return set;
}

PatchSet extract_lcn_patches(const PhotoSet& photos, int split, int64_t count,
                             const PatchOptions& o, uint64_t seed) {
  TORCH_CHECK(split >= 0 && split <= 2, "extract_lcn_patches: split must be 0, 1 or 2");
  TORCH_CHECK(count >= 0 && o.lcn_batch >= 2, "extract_lcn_patches: bad count or lcn_batch");
  TORCH_CHECK(!photos.images.empty(), "extract_lcn_patches: no photos");
  const int64_t crop = o.crop_size(), band = band_size(o);
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(split), 0x5dc0u};
  std::mt19937_64 rng(seq);
  std::vector<torch::Tensor> kept_p, kept_m, kept_s;
  int64_t kept = 0, drawn = 0;
  const int64_t max_drawn = std::max<int64_t>(50 * count, o.lcn_batch);
  while (kept < count) {
    require(drawn < max_drawn,
            "only " + std::to_string(kept) + " of " + std::to_string(drawn) +
                " crops had std >= " + std::to_string(o.min_std) + " after LCN; " +
                std::to_string(count) + " were asked for (use more or more varied photos)");
    std::vector<torch::Tensor> crops;
    crops.reserve(static_cast<size_t>(o.lcn_batch));
    for (int64_t b = 0; b < o.lcn_batch; ++b) {
      const auto& img = photos.images[rng() % photos.images.size()];
      const int64_t H = img.size(1), W = img.size(2);
      const bool tall = H >= W;
      const auto [r0, r1] = region(tall ? H : W, split, band);
      const int64_t along = r0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(r1 - r0 - crop + 1));
      const int64_t across = static_cast<int64_t>(rng() % static_cast<uint64_t>((tall ? W : H) - crop + 1));
      const int64_t top = tall ? along : across, left = tall ? across : along;
      crops.push_back(img.narrow(1, top, crop).narrow(2, left, crop));  // (1, crop, crop)
    }
    drawn += o.lcn_batch;
    auto x = torch::stack(crops).sub_(o.pixel_mean).div_(o.pixel_std);  // (B, 1, crop, crop)
    auto lcn = local_contrast_normalize(x, o.kernel_size, o.sigma);
    auto sd = lcn.out.reshape({lcn.out.size(0), -1}).std(1, /*unbiased=*/true);  // (B,)
    auto keep = (sd >= o.min_std).nonzero().squeeze(1);
    if (keep.numel() > count - kept) keep = keep.narrow(0, 0, count - kept);
    kept_p.push_back(lcn.out.index_select(0, keep));
    kept_m.push_back(lcn.mean.index_select(0, keep));
    kept_s.push_back(lcn.std.index_select(0, keep));
    kept += keep.numel();
  }
  PatchSet set;
  if (kept_p.empty()) {
    auto empty = torch::empty({0, 1, o.patch_size, o.patch_size});
    return {empty, empty.clone(), empty.clone()};
  }
  set.patches = torch::cat(kept_p);
  set.mean = torch::cat(kept_m);
  set.std = torch::cat(kept_s);
  return set;
}

PatchSplits make_patch_splits(const std::string& dir, int64_t train, int64_t val, int64_t test,
                              const PatchOptions& o, uint64_t seed) {
  PhotoSet photos = read_photos(dir, o);
  PatchSplits s;
  s.images = photos.files;
  s.train = extract_lcn_patches(photos, 0, train, o, seed);
  s.val = extract_lcn_patches(photos, 1, val, o, seed);
  s.test = extract_lcn_patches(photos, 2, test, o, seed);
  return s;
}

}  // namespace sparseloop
