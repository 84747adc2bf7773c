// Natural-image patches whitened by local contrast normalization (LCN), as
// VDL trains on (Evtimova & LeCun 2022, natural image patches; the authors'
// imagenet_LCN_patches.py and utils.LocalContrastNorm):
//   photo → grayscale → shorter side resized to 256 → random 52×52 crop
//   → (x − 0.457)/0.259 → LCN with a 13×13 Gaussian (σ = 5), valid
//   convolutions (52 → 40 → 28) → keep the patch when its std ≥ 0.5.
// The per-pixel local mean and std maps are kept so that patches and
// reconstructions can be de-whitened (PSNR, pictures).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// Normalised 2-D Gaussian, the separable product of two 1-D Gaussians
/// centred at (size − 1)/2: shape (1, 1, size, size), sums to 1.
torch::Tensor gaussian_kernel(int64_t size, double sigma);

struct LcnResult {
  torch::Tensor out;   ///< (B, 1, H − 2(k−1), W − 2(k−1)): whitened patches
  torch::Tensor mean;  ///< same shape: local mean m (centre crop of conv(x, g))
  torch::Tensor std;   ///< same shape: local std s after the floors
};

/// Local contrast normalization with valid convolutions, p = k/2:
///   m = g ∗ x,  c = x[p:−p, p:−p] − m,  s = √max(g ∗ c², 0),
///   s ← max(s, mean(s)) with mean(s) over the whole batch tensor,
///   s ← max(s, 1e−4),  out = c[p:−p, p:−p] / s.
/// x: (B, 1, H, W); the kernel size must be odd. The floor mean(s) depends on
/// the batch (the authors use batches of 250).
LcnResult local_contrast_normalize(const torch::Tensor& x, int64_t kernel_size = 13,
                                   double sigma = 5.0);

/// Undoes LCN: out · std + mean (then, for pixels, · pixel_std + pixel_mean).
torch::Tensor lcn_dewhiten(const torch::Tensor& out, const torch::Tensor& mean,
                           const torch::Tensor& std);

struct PatchOptions {
  int64_t patch_size = 28;      ///< side of the whitened patch
  int64_t kernel_size = 13;     ///< LCN Gaussian size (odd)
  double sigma = 5.0;           ///< LCN Gaussian σ
  int64_t resize = 256;         ///< shorter side of each photo before cropping (0: keep)
  double pixel_mean = 0.457;    ///< grayscale normalisation before LCN (ImageNet's)
  double pixel_std = 0.259;
  double min_std = 0.5;         ///< keep patches whose (unbiased) std ≥ this
  int64_t lcn_batch = 250;      ///< candidates whitened together (sets the LCN floor)
  int64_t max_images = 0;       ///< read at most this many photos (0: all)
  /// Crop side before LCN: patch_size + 2(kernel_size − 1) (52 for 28 and 13).
  int64_t crop_size() const { return patch_size + 2 * (kernel_size - 1); }
};

/// A set of whitened patches with their de-whitening maps, all (N, 1, P, P) float32.
struct PatchSet {
  torch::Tensor patches;
  torch::Tensor mean;
  torch::Tensor std;
  int64_t size() const { return patches.defined() ? patches.size(0) : 0; }
  PatchSet subset(const torch::Tensor& indices) const;
};

struct PatchSplits {
  PatchSet train, val, test;
  std::vector<std::string> images;  ///< the photos used, sorted
};

/// Photos (grayscale, shorter side resized) with the three disjoint regions
/// patches are cut from. Every photo is split along its longer side: the
/// last band of ⌈1.25·crop⌉ pixels is the test region, the band before it
/// the validation region, the rest training, so no pixel is shared between
/// splits whatever the number of photos.
struct PhotoSet {
  std::vector<torch::Tensor> images;  ///< (1, H, W) float in [0, 1]
  std::vector<std::string> files;
};

/// Reads every PNG/JPEG/BMP under `dir` (recursively, sorted by path) as
/// grayscale and resizes it (antialiased bilinear, like torchvision's Resize
/// on PIL images). InputError names `dir` when it holds no usable photo or a
/// photo is too small for the three regions.
PhotoSet read_photos(const std::string& dir, const PatchOptions& options);

/// Cuts `count` patches from region `split` (0 train, 1 val, 2 test) of
/// every photo: crops at uniformly random photos and positions (std::mt19937_64
/// seeded by `seed` and `split`), whitened `lcn_batch` at a time, kept when
/// std ≥ min_std. InputError when fewer than `count` survive 50·count crops.
PatchSet extract_lcn_patches(const PhotoSet& photos, int split, int64_t count,
                             const PatchOptions& options, uint64_t seed);

/// read_photos + the three extractions.
PatchSplits make_patch_splits(const std::string& dir, int64_t train, int64_t val, int64_t test,
                              const PatchOptions& options, uint64_t seed);

}  // namespace sparseloop
