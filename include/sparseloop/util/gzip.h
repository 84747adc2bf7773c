// Files that may be gzip'd (the IDX files users download are usually .gz),
// read through zlib's own gz* file interface: zlib handles the framing
// (header flags, concatenated members, trailing padding, a plain file read as
// is), so none of it is ours to get wrong (issue 11: less hand-written plumbing).
#pragma once

#include <string>

namespace sparseloop {

/// Reads `path` whole, decompressing it when it is gzip data (judged by its
/// content, not its name). InputError naming `path` when it is missing, a
/// folder, or corrupt or truncated gzip data.
std::string read_file_maybe_gzip(const std::string& path);

}  // namespace sparseloop
