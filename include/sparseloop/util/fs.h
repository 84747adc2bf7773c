// File helpers: whole-file reads with clear errors and atomic writes
// (temp file in the same folder, fsync, rename), so that an interrupted
// program never leaves a half-written output or destroys the previous copy.
#pragma once

#include <string>

namespace sparseloop {

/// Reads a whole file; throws InputError naming `path` when it is missing or unreadable.
std::string read_file(const std::string& path);

/// Writes `bytes` to `path` atomically: `path.tmp-XXXX`, fsync, rename, fsync dir.
void write_file_atomic(const std::string& path, const std::string& bytes);

/// Creates a folder and its parents; throws InputError naming it on failure.
void make_dirs(const std::string& path);

bool file_exists(const std::string& path);

}  // namespace sparseloop
