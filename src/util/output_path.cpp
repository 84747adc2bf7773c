#include "sparseloop/util/output_path.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sparseloop/util/error.h"

namespace sparseloop {
namespace fs = std::filesystem;

void require_writable_folder_path(const std::string& path, const std::string& flag) {
  if (path.empty()) return;  // the command names a missing flag itself
  const std::string named = flag + " " + path;
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (fs::exists(p, ec)) require(fs::is_directory(p, ec), named + ": exists and is not a folder");
  // The nearest ancestor that exists must be a folder we may write in.
  while (!p.empty() && !fs::exists(p, ec) && p != p.parent_path()) p = p.parent_path();
  require(fs::is_directory(p, ec),
          named + ": cannot create the folder (" + p.string() + " is not a folder)");
  require(::access(p.c_str(), W_OK | X_OK) == 0,
          named + ": cannot write in " + p.string() + " (" + std::strerror(errno) + ")");
}

void require_writable_file_path(const std::string& path, const std::string& flag) {
  if (path.empty()) return;
  const std::string named = flag + " " + path;
  std::error_code ec;
  require(!fs::is_directory(path, ec), named + ": is a folder; give a file name");
  require(!path.empty() && path.back() != '/', named + ": give a file name, not a folder");
  const fs::path parent = fs::absolute(path, ec).parent_path();
  require_writable_folder_path(parent.string(), flag);
}

}  // namespace sparseloop
