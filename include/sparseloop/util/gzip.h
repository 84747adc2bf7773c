// gzip (RFC 1952) in memory through zlib: the IDX files users download are
// usually .gz, and npm packages are gzip'd tarballs.
#pragma once

#include <string>

namespace sparseloop {

/// True when `bytes` starts with the gzip magic 1f 8b.
bool is_gzip(const std::string& bytes);

/// Decompresses every gzip member of `bytes` (concatenated members are one
/// stream, as gunzip treats them). Throws InputError naming `source` for
/// corrupt or truncated data.
std::string gunzip(const std::string& bytes, const std::string& source);

/// Reads `path` whole and decompresses it when it is gzip data (judged by
/// its content, not its name).
std::string read_file_maybe_gzip(const std::string& path);

/// Compresses `bytes` into one gzip member (level 6).
std::string gzip(const std::string& bytes);

}  // namespace sparseloop
