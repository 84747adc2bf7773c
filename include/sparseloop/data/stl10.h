// STL-10 binary version (stl10_binary/): train_X.bin, train_y.bin,
// test_X.bin, test_y.bin, unlabeled_X.bin; 96×96×3 uint8 images stored
// column-major per channel; labels 1–10 as bytes (made 0–9 here).
#pragma once

#include <string>

#include "sparseloop/data/dataset.h"

namespace sparseloop {

/// Train/test splits; `resize` > 0 resizes to resize×resize (bilinear).
DataSplits load_stl10(const std::string& dir, int64_t resize = 64);
/// The 100 000 unlabelled images (resized likewise), for CTRL's unlabelled training.
ImageDataset load_stl10_unlabeled(const std::string& dir, int64_t resize = 64);
/// Images in unlabeled_X.bin judged from its size, without reading it
/// (0 when the file is absent); InputError when the size is not whole images.
int64_t count_stl10_unlabeled(const std::string& dir);

}  // namespace sparseloop
