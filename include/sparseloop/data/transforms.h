// Image transforms on float batches (B, C, H, W). Random ones take a
// generator so that augmentation is reproducible across resume.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// Zero-pads every side by `p` pixels (MNIST 28 → 32 with p = 2).
torch::Tensor pad_images(const torch::Tensor& x, int64_t p, double value = 0.0);
/// Bilinear resize (align_corners = false, as torchvision/PIL without antialias).
torch::Tensor resize_images(const torch::Tensor& x, int64_t h, int64_t w);
/// Bilinear resize of uint8 images (N, C, H, W), rounded back to uint8;
/// done in chunks of `chunk` images to bound the float working memory.
torch::Tensor resize_images_u8(const torch::Tensor& x_u8, int64_t h, int64_t w,
                               int64_t chunk = 1024);
/// Centre crop to h × w (top-left at ⌊(H − h)/2⌋, ⌊(W − w)/2⌋).
torch::Tensor center_crop(const torch::Tensor& x, int64_t h, int64_t w);
/// Random crop of the original size after zero padding by `pad` (per sample).
torch::Tensor random_crop(const torch::Tensor& x, int64_t pad, torch::Generator& gen);
/// Horizontal flip of each sample with probability ½.
torch::Tensor random_hflip(const torch::Tensor& x, torch::Generator& gen);
/// Each sample under one of the 8 symmetries of the square (identity,
/// rotations by 90°, 180°, 270°, and the four reflections), uniformly; square
/// images only. For textures, which have no up or left (issue 14).
torch::Tensor random_dihedral(const torch::Tensor& x, torch::Generator& gen);
/// Each sample's channels in one of the C! orders, uniformly (C ≤ 4): the
/// colours of an RGB crop permuted, so a model cannot learn the training
/// photographs' palette as a prior (docs/results.md, natural images).
torch::Tensor random_channel_permutation(const torch::Tensor& x, torch::Generator& gen);
/// (x − mean_c) / std_c per channel.
torch::Tensor normalize_channels(const torch::Tensor& x, const std::vector<double>& mean,
                                 const std::vector<double>& std);
/// Inverse of normalize_channels.
torch::Tensor denormalize_channels(const torch::Tensor& x, const std::vector<double>& mean,
                                   const std::vector<double>& std);
/// [0, 1] → [−1, 1] and back.
torch::Tensor to_signed(const torch::Tensor& x01);
torch::Tensor to_unit(const torch::Tensor& xpm1);

}  // namespace sparseloop
