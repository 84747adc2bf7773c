// The same sources compile against Debian's LibTorch 1.13 (CPU) and LibTorch
// 2.x (CUDA machines). Version-dependent spellings live here and nowhere else.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>

#define SPARSELOOP_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||             \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace sparseloop {

/// Peak bytes allocated on the current CUDA device since the last reset, or 0
/// (CPU, or a build without CUDA). Implemented in src/util/compat.cpp.
int64_t cuda_peak_bytes();
/// Resets the CUDA peak-memory counter (no-op without CUDA).
void cuda_reset_peak_bytes();
/// Waits for all queued CUDA work (no-op without CUDA).
void cuda_synchronize();

/// Resolves "cpu" | "cuda" | "auto" into a device; throws InputError naming
/// `flag` when CUDA is requested but absent or the name is unknown.
torch::Device resolve_device(const std::string& name, const std::string& flag = "--device");

}  // namespace sparseloop
