// The library's one copy of stb_image_write (PNG encoding). Decoding lives
// in src/data (stb_image); keep the two implementations apart.
//
// PNG's deflate stream goes through zlib (already a dependency) instead of
// stb's built-in compressor: files come out noticeably smaller, which
// matters for images embedded as base64 in HTML reports.
#include <zlib.h>

#include <cstdlib>

namespace {

unsigned char* zlib_compress(unsigned char* data, int size, int* out_size, int /*quality*/) {
  uLongf bound = compressBound(static_cast<uLong>(size));
  auto* out = static_cast<unsigned char*>(std::malloc(bound));
  if (out == nullptr) return nullptr;
  if (compress2(out, &bound, data, static_cast<uLong>(size), Z_DEFAULT_COMPRESSION) != Z_OK) {
    std::free(out);
    return nullptr;
  }
  *out_size = static_cast<int>(bound);
  return out;  // stb releases it with free()
}

}  // namespace

#define STBIW_ZLIB_COMPRESS zlib_compress
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
