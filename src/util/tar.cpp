#include "sparseloop/util/tar.h"

#include <filesystem>

#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/process.h"

namespace sparseloop {

namespace fs = std::filesystem;

std::vector<std::string> read_tar_members(const std::string& archive, const std::string& dest,
                                          const std::vector<std::string>& members) {
  require(file_exists(archive), archive + ": no such file");
  require(!find_on_path("tar").empty(),
          archive + ": cannot unpack it: no `tar` on PATH (install Debian's tar package)");
  make_dirs(dest);
  // -f FILE with no -z: GNU tar detects gzip by content. --no-same-owner and
  // --no-same-permissions: the files are data for us, not a system to restore.
  std::vector<std::string> argv = {"tar",  "-x", "--no-same-owner", "--no-same-permissions",
                                   "-f",   archive, "-C", dest, "--"};
  argv.insert(argv.end(), members.begin(), members.end());
  const ProcessResult r = run_process(argv);
  std::vector<std::string> out;
  for (const auto& m : members) {
    const std::string path = dest + "/" + m;
    std::error_code ec;
    // symlink_status: a hostile archive's symlink must not make us read a file outside it.
    const bool regular = fs::is_regular_file(fs::symlink_status(path, ec));
    if (!regular) {
      if (fs::exists(fs::symlink_status(path, ec)))
        throw InputError(archive + ": " + m + " in the archive is not a regular file");
      if (r.exit_code != 0 && r.output.find("Not found in archive") == std::string::npos)
        throw InputError(archive + ": not a readable tar archive (tar: " + last_line(r.output) +
                         ")");
      throw InputError(archive + ": no " + m + " in the archive");
    }
    out.push_back(read_file(path));
  }
  return out;
}

}  // namespace sparseloop
