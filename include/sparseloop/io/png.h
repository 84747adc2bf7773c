// PNG output for figures and image grids. Images are (C, H, W) or (H, W)
// with C ∈ {1 (gray), 3 (RGB), 4 (RGBA)}, either uint8 or floating point in
// [0, 1] (clamped; NaN becomes 0), on any device. Files are written
// atomically (temp file, fsync, rename), so a reader never sees half a PNG.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace sparseloop {

/// Validates an image and converts it to contiguous CPU uint8 (C, H, W)
/// (a (H, W) image becomes (1, H, W)); floats map [0, 1] → 0…255 by rounding.
torch::Tensor to_uint8_image(const torch::Tensor& image);

/// PNG bytes of an image (e.g. to embed in an HTML report).
std::string encode_png(const torch::Tensor& image);

/// PNG bytes of interleaved 8-bit pixels (row-major, `channels` ∈ {1, 3, 4} per pixel).
std::string encode_png_pixels(const uint8_t* pixels, int width, int height, int channels);

/// Writes an image as a PNG file, atomically.
void write_png(const std::string& path, const torch::Tensor& image);

}  // namespace sparseloop
