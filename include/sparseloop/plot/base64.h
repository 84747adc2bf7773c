// Base64 (RFC 4648, standard alphabet, '=' padding), for images embedded in
// HTML as data: URIs.
#pragma once

#include <string>

namespace sparseloop {

std::string base64_encode(const std::string& bytes);

}  // namespace sparseloop
