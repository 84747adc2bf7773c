// What stands between untrusted image bytes and stb_image. The stb_image that
// Debian ships (2.27) writes past a Huffman table for a JPEG whose DHT
// segment declares more than 256 codes (found by the fuzz target `image`,
// docs/reliability.md; fixed upstream in 2.28). Every decode and header
// query of outside bytes (data/image_folder, data/fetch_photos) asks here
// first, which also refuses an image whose header claims more than
// kMaxImagePixels. The library's stb is built with the PNG, JPEG and BMP
// decoders only (src/io/stb_image_impl.cpp): the formats the readers accept,
// and no other decoder's bugs to reach. JPEG decodes go to libjpeg-turbo
// where the build has it (io/jpeg.h: a second stb JPEG bug that no check of
// the file's structure can catch); stb's JPEG header query still asks here.
#pragma once

#include <cstdint>
#include <string>

namespace sparseloop {

/// Images larger than this (8192 × 8192) are refused from their header:
/// stb allocates what the header claims, whatever the file holds.
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

/// "" when `bytes` may go to stb_image; otherwise why not (for the message).
std::string stb_input_problem(const std::string& bytes);

}  // namespace sparseloop
