// What stands between untrusted image bytes and stb_image. The stb_image that
// Debian ships (2.27) writes past a Huffman table for a JPEG whose DHT
// segment declares more than 256 codes (found by the fuzz target `image`,
// docs/reliability.md; fixed upstream in 2.28). Every decode and header
// query of outside bytes (data/image_folder, data/fetch_photos) asks here
// first. The library's stb is built with the PNG, JPEG and BMP decoders only
// (src/io/stb_image_impl.cpp): the formats the readers accept, and no other
// decoder's bugs to reach.
#pragma once

#include <string>

namespace sparseloop {

/// "" when `bytes` may go to stb_image; otherwise why not (for the message).
std::string stb_input_problem(const std::string& bytes);

}  // namespace sparseloop
