// The temporary files of write_file_atomic (util/fs.h): their names, and the
// sweep of those a killed process left behind. A SIGKILL (or a power loss)
// between creating `NAME.tmp-PID-N` and renaming it onto NAME leaves the
// temporary file in the folder for good; the next run of the program in that
// folder removes it, and only it: a file of that pattern whose PID is no
// running process (another live process may be writing its own right now).
#pragma once

#include <string>
#include <vector>

namespace sparseloop {

/// The temporary name write_file_atomic() writes `path` under before the
/// rename: `path.tmp-PID-N`, PID this process, N random.
std::string atomic_temp_path(const std::string& path);

/// The PID in a file name of atomic_temp_path()'s pattern (`*.tmp-PID-N`,
/// PID and N decimal), or 0 when `name` is not of that pattern.
long atomic_temp_pid(const std::string& name);

/// Removes from `dir` (not its subfolders) the regular files of
/// atomic_temp_path()'s pattern whose PID is no running process, or is this
/// process's own (a PID reused after a restart, e.g. PID 1 in a container:
/// call this before this process writes into `dir`). Returns the names
/// removed. A missing `dir` is no error.
std::vector<std::string> remove_stale_temp_files(const std::string& dir);

}  // namespace sparseloop
