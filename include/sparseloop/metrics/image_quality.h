// Image-quality metrics: MSE, PSNR, SSIM (Wang et al. 2004, Gaussian window
// 11×11, σ = 1.5, K1 = 0.01, K2 = 0.03, as skimage/torchmetrics).
#pragma once

#include <torch/torch.h>

namespace sparseloop {

/// Mean squared error over all elements.
double mse(const torch::Tensor& estimate, const torch::Tensor& reference);

/// PSNR of the whole tensor: 10 log10(peak² / MSE) in dB (∞ when equal).
double psnr(const torch::Tensor& estimate, const torch::Tensor& reference, double peak);

/// Per-sample PSNR (dim 0 = samples), shape (B,) float64.
torch::Tensor psnr_per_sample(const torch::Tensor& estimate, const torch::Tensor& reference,
                              double peak);

/// Mean SSIM over samples and channels of images (B, C, H, W); `data_range` is
/// the dynamic range of the pixels (2 for [−1, 1], 1 for [0, 1]). Images
/// smaller than the window use a window of their size.
double ssim(const torch::Tensor& estimate, const torch::Tensor& reference, double data_range);

/// Per-sample SSIM, shape (B,) float64.
torch::Tensor ssim_per_sample(const torch::Tensor& estimate, const torch::Tensor& reference,
                              double data_range);

/// Reconstructions that know little of each image, to put a model's PSNR in
/// context (issue 14: a CSC-CTRL scoring what the mean colour scores has
/// learnt only the colour). Images (B, C, H, W) → the same shape:
/// each image replaced by its mean colour,
torch::Tensor mean_colour_baseline(const torch::Tensor& images);
/// or by its side×side thumbnail (area average) scaled back up bilinearly.
torch::Tensor thumbnail_baseline(const torch::Tensor& images, int64_t side);

}  // namespace sparseloop
