// Where a command is about to write, checked before it does any work (reads
// data, trains, solves): a path that cannot be written is bad input (exit 2,
// one line naming the flag and the path), found up front rather than as a
// failed rename or mkdir after minutes of work, and with nothing written.
#pragma once

#include <string>

namespace sparseloop {

/// InputError "FLAG PATH: …" unless a folder can be at `path`: it is a
/// folder, or does not exist and its nearest existing ancestor is a folder
/// this process can write in. Creates nothing.
void require_writable_folder_path(const std::string& path, const std::string& flag);

/// InputError "FLAG PATH: …" unless a file can be written at `path`: it is
/// not a folder, and its folder exists writable or can be created (as
/// above). Creates nothing.
void require_writable_file_path(const std::string& path, const std::string& flag);

}  // namespace sparseloop
