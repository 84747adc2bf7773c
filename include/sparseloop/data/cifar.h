// CIFAR-10 / CIFAR-100, "binary version" (the files users download):
//   CIFAR-10:  data_batch_1.bin … data_batch_5.bin, test_batch.bin
//              records of 1 label byte + 3072 pixel bytes (R, G, B planes)
//   CIFAR-100: train.bin, test.bin; records of coarse byte, fine byte, 3072 pixels
// Either directly in `dir` or in its cifar-10-batches-bin/ or cifar-100-binary/.
// CIFAR-10-C: <corruption>.npy (50 000 × 32 × 32 × 3 uint8, severities 1–5
// stacked by 10 000) and labels.npy.
#pragma once

#include <string>

#include "sparseloop/data/dataset.h"

namespace sparseloop {

DataSplits load_cifar10(const std::string& dir);
/// `fine` = 100 classes (default) or the 20 coarse superclasses.
DataSplits load_cifar100(const std::string& dir, bool fine = true);
/// One corruption at one severity (1–5) of CIFAR-10-C.
ImageDataset load_cifar10c(const std::string& dir, const std::string& corruption, int severity);



}  // namespace sparseloop
