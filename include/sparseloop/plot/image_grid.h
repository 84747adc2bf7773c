// Pictures made of many images: a torchvision-style grid of a batch, and a
// labelled grid whose rows are batches ("inputs" over "reconstructions").
// Results are float (C, H, W) images in [0, 1], ready for write_png.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sparseloop {

/// Maps pixel values from [lo, hi] to [0, 1] (clamped), e.g. (−1, 1) for
/// images produced by a Tanh decoder.
torch::Tensor normalize_images(const torch::Tensor& images, double lo, double hi);

/// Tiles a batch (B, C, H, W) into one image, `nrow` images per row, like
/// torchvision.utils.make_grid: the result is (C, ymaps·(H+p)+p, xmaps·(W+p)+p)
/// with xmaps = min(nrow, B), ymaps = ⌈B / xmaps⌉, filled with `pad_value`
/// where no image lies. uint8 input is scaled to [0, 1]; unlike torchvision,
/// one-channel batches stay one-channel (PNG stores them as grayscale).
torch::Tensor make_grid(const torch::Tensor& images, int64_t nrow = 8, int64_t padding = 2,
                        double pad_value = 1.0);

/// Dictionary atoms (n, C, H, W) as one picture: each atom stretched to
/// [0, 1] on its own (as the papers draw them), enlarged by nearest
/// neighbours to at least `min_size` pixels, `nrow` per row.
torch::Tensor atom_grid(const torch::Tensor& atoms, int64_t nrow = 16, int64_t min_size = 28);

struct RowGridOptions {
  int64_t padding = 2;     ///< pixels between tiles (after upscaling)
  double pad_value = 1.0;  ///< background gray level in [0, 1]
  int upscale = 0;  ///< integer nearest-neighbour zoom; 0: enough for ≥ 56-px tiles (max 4)
  double font_size = 15.0;  ///< label em size in pixels
};

/// One row per batch in `rows` (each (B_i, C, H, W), same C, H, W; C ∈ {1, 3}),
/// all images of a batch side by side, with `labels[i]` written to the left
/// of row i (e.g. {"input", "reconstruction"}). Rows may hold different
/// numbers of images (left-aligned). Returns (3, H', W') float in [0, 1].
torch::Tensor image_grid_with_rows(const std::vector<torch::Tensor>& rows,
                                   const std::vector<std::string>& labels,
                                   const RowGridOptions& options = {});

}  // namespace sparseloop
