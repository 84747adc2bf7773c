// JPEG decoding by libjpeg-turbo (Debian's libturbojpeg), the decoder of
// every JPEG a reader accepts (data/image_folder's read_image). stb_image
// 2.27, which Debian ships, had two memory-safety bugs in its JPEG decoder
// found by the fuzz target `image` (docs/reliability.md): a Huffman table
// written past its end, and a bit buffer shifted by 33 (negative bit count
// on corrupt entropy-coded data), which no check of the file's structure can
// rule out beforehand. libjpeg-turbo is fuzzed continuously upstream
// (OSS-Fuzz). A build without it (a GPU machine with no package manager:
// scripts/gpu_check.sh) keeps stb's guarded decoder: kTurboJpeg says which.
#pragma once

#include <torch/torch.h>

#include <string>

namespace sparseloop {

#if SPARSELOOP_HAVE_TURBOJPEG
constexpr bool kTurboJpeg = true;
#else
constexpr bool kTurboJpeg = false;
#endif

/// True when `bytes` start as stb_image and libjpeg take a JPEG to start:
/// FF (fill bytes allowed) then the SOI marker D8.
bool is_jpeg(const std::string& bytes);

/// Decodes a JPEG to (channels, H, W) uint8, channels 1 (luma) or 3 (RGB).
/// Anything libjpeg-turbo warns about (a truncated file, corrupt data) is
/// refused rather than decoded into grey blocks, as is a header claiming more
/// than kMaxImagePixels: InputError naming `name`. Needs kTurboJpeg.
torch::Tensor decode_jpeg(const std::string& bytes, int64_t channels, const std::string& name);

}  // namespace sparseloop
