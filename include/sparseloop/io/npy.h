// NumPy .npy files (format versions 1–3): the header alone, or row ranges,
// so that one severity of a 150 MB CIFAR-10-C array is read without the rest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

struct NpyInfo {
  std::string descr;  ///< "|u1", "<i8", "<i4", "<f4", "<f8"
  torch::ScalarType dtype = torch::kByte;
  std::vector<int64_t> shape;  ///< () for a scalar
  uint64_t data_offset = 0;    ///< where the C-order data starts
  uint64_t file_size = 0;

  int64_t numel() const;
  /// Bytes of one row (one index of the first dimension).
  uint64_t row_bytes() const;
};

/// Parses and validates the header of `path` (magic, version, the dict with
/// descr/fortran_order/shape, data size against the file size). InputError
/// names the file and the problem.
NpyInfo inspect_npy(const std::string& path);

/// The whole array, in its dtype and shape.
torch::Tensor read_npy(const std::string& path);

/// Rows [start, start + count) of the first dimension.
torch::Tensor read_npy_rows(const std::string& path, int64_t start, int64_t count);

}  // namespace sparseloop
