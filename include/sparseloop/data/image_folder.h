// ImageFolder: `dir/<class>/<image>.{jpg,jpeg,png,bmp}` (torchvision's
// layout; a `train/` and `val/` split inside `dir` when present). Images are
// decoded with stb_image, converted to RGB (or grayscale), centre-cropped to
// `crop` (0: no crop) after resizing the short side to `crop` when smaller,
// then resized to `size` bilinearly (the CSC-CTRL ImageNet setting: crop 224,
// size 64).
#pragma once

#include <string>

#include "sparseloop/data/dataset.h"

namespace sparseloop {

struct ImageFolderOptions {
  int64_t crop = 224;
  int64_t size = 64;
  int64_t channels = 3;   ///< 3 (RGB) or 1 (grayscale)
  int64_t max_per_class = 0;  ///< 0: all
};

DataSplits load_image_folder(const std::string& dir, const ImageFolderOptions& options = {});

/// True for the file names ImageFolder reads (.jpg .jpeg .png .bmp, any case).
bool is_image_file(const std::string& path);

/// Decodes one image file (PNG/JPEG/BMP/…) → (C, H, W) uint8; InputError names the file.
torch::Tensor read_image(const std::string& path, int64_t channels = 3);

}  // namespace sparseloop
