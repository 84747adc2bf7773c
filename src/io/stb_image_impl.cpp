// stb_image's implementation, with only the decoders the readers accept
// (image folders and the fetched photographs are PNG, JPEG or BMP): the
// others (GIF, PSD, TGA, HDR, PIC, PNM) would be attack surface and nothing
// else.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#include "sparseloop/io/stb_guard.h"
#include "sparseloop/io/jpeg.h"

#include <climits>
#include <cstdint>
#include <cstdlib>

namespace sparseloop {
namespace {

// Walks a JPEG's marker segments from byte i (ITU T.81 §B.1), including
// those between and after scans (entropy-coded data is scanned byte by byte
// for markers, so no segment stb can reach is skipped), and checks each DHT
// segment's tables as stb_image reads them: a table's 16 code counts must
// sum to at most 256 (stb 2.27 writes count-sum + 1 bytes into a 257-byte
// array).
std::string jpeg_problem(const std::string& b, size_t i) {
  // stb reads past the end as zeros.
  const auto at = [&](size_t k) { return k < b.size() ? static_cast<unsigned char>(b[k]) : 0; };
  while (i + 1 < b.size()) {
    if (at(i) != 0xFF) {
      ++i;  // entropy-coded data (or junk stb would reject): find the next marker
      continue;
    }
    const unsigned char m = at(i + 1);
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {  // stuffed 0, TEM, RSTn, SOI
      i += 2;
      continue;
    }
    if (m == 0xD9) return "";  // EOI
    const size_t len = (size_t(at(i + 2)) << 8) | at(i + 3);
    if (m == 0xC4) {
      // As stb: tables while the segment has bytes left, each read whole
      // even where it runs past the segment (stb fails only afterwards).
      size_t p = i + 4;
      while (p < i + 2 + len && p < b.size()) {
        size_t n = 0;
        for (size_t k = 1; k <= 16; ++k) n += at(p + k);
        if (n > 256)
          return "bad JPEG Huffman table (" + std::to_string(n) + " codes, at most 256)";
        p += 17 + n;
      }
    }
    i += 2 + len;
  }
  return "";
}

// A BMP's pixels are stored uncompressed (stb refuses the RLE kinds), from
// the offset its header gives, each row padded to 4 bytes: the file must be
// that long. stb reads past the end as zeros, so a 100-byte BMP claiming
// 8000 × 8000 pixels was decoded whole, 64 M pixels of nothing (2 s under
// the sanitizers: 45 executions a second for the fuzz target `image`), and a
// truncated BMP became a silently blackened image. The last row's padding
// may be missing (writers differ).
std::string bmp_problem(const std::string& b) {
  if (b.size() < 2 || b[0] != 'B' || b[1] != 'M') return "";
  // As stb reads it: bytes past the end are zeros (a 30-byte file still has
  // a width, a height and "no compression").
  const auto u = [&](size_t k) {
    return k < b.size() ? static_cast<uint32_t>(static_cast<unsigned char>(b[k])) : 0u;
  };
  const auto le16 = [&](size_t k) { return u(k) | u(k + 1) << 8; };
  const auto le32 = [&](size_t k) { return le16(k) | le16(k + 2) << 16; };
  const int64_t offset = static_cast<int32_t>(le32(10));
  const uint32_t header = le32(14);
  int64_t w, h, bpp;
  if (header == 12) {
    w = le16(18), h = le16(20), bpp = le16(24);
  } else if (header == 40 || header == 56 || header == 108 || header == 124) {
    w = le32(18);  // stb reads it unsigned
    const auto height = static_cast<int32_t>(le32(22));
    // stb takes abs() of it, which INT32_MIN has not.
    if (height == INT32_MIN) return "bad BMP height";
    h = std::abs(static_cast<int64_t>(height));
    bpp = le16(28);
    // stb refuses RLE (1, 2) and 4 and above, as a signed int: a negative
    // value passes as uncompressed.
    const auto compression = static_cast<int32_t>(le32(30));
    if (compression == 1 || compression == 2 || compression >= 4) return "";
  } else {
    return "";  // stb refuses it
  }
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32) return "";
  if (offset < 0 || w <= 0 || h <= 0 || w > (int64_t{1} << 24) || h > (int64_t{1} << 24))
    return "";  // stb refuses these itself
  const int64_t row = (w * bpp + 31) / 32 * 4;
  const int64_t needed = offset + row * (h - 1) + (w * bpp + 7) / 8;
  if (needed <= static_cast<int64_t>(b.size())) return "";
  return "truncated BMP: its header claims " + std::to_string(w) + "x" + std::to_string(h) +
         " pixels of " + std::to_string(bpp) + " bits from byte " + std::to_string(offset) +
         ", " + std::to_string(needed) + " bytes, but the file has " + std::to_string(b.size());
}

// An IDAT chunk of length 0 before any image data makes stb 2.27 call
// memcpy with a null destination (its buffer is allocated on the first
// non-empty chunk): undefined behaviour (UBSan, the fuzz target `image`).
// Encoders do not write one; refused. So is an IDAT chunk longer than what
// is left of the file.
std::string png_problem(const std::string& b) {
  if (b.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) != 0) return "";
  const auto u = [&](size_t k) {
    return k < b.size() ? static_cast<uint32_t>(static_cast<unsigned char>(b[k])) : 0u;
  };
  bool data = false;  // a non-empty IDAT seen
  for (size_t i = 8; i + 8 <= b.size();) {
    const uint64_t length = uint64_t{u(i)} << 24 | u(i + 1) << 16 | u(i + 2) << 8 | u(i + 3);
    const std::string type = b.substr(i + 4, 4);
    if (type == "IDAT") {
      if (length == 0 && !data) return "PNG with an empty IDAT chunk before its image data";
      // stb grows its buffer to the length a chunk claims before reading
      // it: a 122-byte PNG claiming a 2 GB chunk allocated 2 GB (the fuzz
      // target `image`).
      if (i + 8 + length > b.size())
        return "truncated PNG: an IDAT chunk claims " + std::to_string(length) + " bytes, " +
               std::to_string(b.size() - i - 8) + " are left";
      data = data || length > 0;
    }
    if (type == "IEND") return "";
    i += 12 + length;
  }
  return "";
}

}  // namespace

std::string stb_input_problem(const std::string& bytes) {
  // stb takes a JPEG for one when it starts with a marker: FF (any number of
  // FF fill bytes) D8.
  if (is_jpeg(bytes)) {
    size_t i = 0;
    while (static_cast<unsigned char>(bytes[i]) == 0xFF) ++i;
    std::string why = jpeg_problem(bytes, i + 1);
    if (!why.empty()) return why;
  }
  if (std::string why = bmp_problem(bytes); !why.empty()) return why;
  if (std::string why = png_problem(bytes); !why.empty()) return why;
  // The size the header claims, before anything is allocated for it: a
  // 87-byte BMP claiming 8 650 500 × 67 pixels made stb allocate and fill
  // 1.7 GB (the fuzz target `image`, docs/reliability.md).
  int w = 0, h = 0, n = 0;
  if (bytes.size() <= static_cast<size_t>(INT32_MAX) &&
      stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                            static_cast<int>(bytes.size()), &w, &h, &n) == 1 &&
      static_cast<int64_t>(w) * h > kMaxImagePixels)
    return "the header claims " + std::to_string(w) + "x" + std::to_string(h) +
           " pixels, more than the " + std::to_string(kMaxImagePixels) + " this reader accepts";
  return "";
}

}  // namespace sparseloop
