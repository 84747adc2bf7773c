#include "sparseloop/io/jpeg.h"

#include <climits>
#include <memory>

#include "sparseloop/io/stb_guard.h"
#include "sparseloop/util/error.h"

#if SPARSELOOP_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif

namespace sparseloop {

bool is_jpeg(const std::string& bytes) {
  size_t i = 0;
  while (i < bytes.size() && static_cast<unsigned char>(bytes[i]) == 0xFF) ++i;
  return i > 0 && i < bytes.size() && static_cast<unsigned char>(bytes[i]) == 0xD8;
}

#if SPARSELOOP_HAVE_TURBOJPEG

torch::Tensor decode_jpeg(const std::string& bytes, int64_t channels, const std::string& name) {
  TORCH_CHECK(channels == 1 || channels == 3, "decode_jpeg: channels must be 1 or 3, got ",
              channels);
  const auto fail = [&](const std::string& why) -> InputError {
    return InputError(name + ": cannot decode JPEG (" + why + ")");
  };
  require(bytes.size() <= static_cast<size_t>(ULONG_MAX), name + ": JPEG file too large");
  std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
  if (!handle) throw std::runtime_error("libjpeg-turbo: cannot create a decompressor");
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  int w = 0, h = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), data, size, &w, &h, &subsampling, &colorspace) != 0)
    throw fail(tjGetErrorStr2(handle.get()));
  // The header's size, before anything is allocated for it (as for stb:
  // io/stb_guard.h).
  if (w <= 0 || h <= 0 || static_cast<int64_t>(w) * h > kMaxImagePixels)
    throw fail("the header claims " + std::to_string(w) + "x" + std::to_string(h) +
               " pixels; at most " + std::to_string(kMaxImagePixels) + " are accepted");
  auto hwc = torch::empty({h, w, channels}, torch::kUInt8);  // (H, W, C)
  // STOPONWARNING: a truncated or corrupt file is an error, not an image
  // with its missing part grey. LIMITSCANS: a progressive JPEG of more than
  // 500 scans (a decoding-time bomb of a few kilobytes) is refused.
  const int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
  if (tjDecompress2(handle.get(), data, size, hwc.data_ptr<uint8_t>(), w, 0, h,
                    channels == 1 ? TJPF_GRAY : TJPF_RGB, flags) != 0)
    throw fail(tjGetErrorStr2(handle.get()));
  return hwc.permute({2, 0, 1}).contiguous();  // (C, H, W)
}

#else

torch::Tensor decode_jpeg(const std::string&, int64_t, const std::string& name) {
  throw std::logic_error(name + ": decode_jpeg called in a build without libjpeg-turbo");
}

#endif

}  // namespace sparseloop
