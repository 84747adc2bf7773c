#include "sparseloop/util/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sparseloop/util/atomic_temp.h"
#include "sparseloop/util/error.h"

namespace sparseloop {
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  // One open, one fstat and reads straight into a string of the file's size:
  // every reader of outside data starts here. The stream version (two stats,
  // an ostringstream grown by doubling, then copied out by str()) copied each
  // file several times and, in the fuzz targets, made a good part of an
  // execution's allocations and system calls.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) throw InputError(path + ": no such file");
    throw InputError(path + ": cannot open (" + std::strerror(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw InputError(path + ": is a folder, expected a file");
  }
  std::string out;
  // Regular files: their size; anything else (a pipe) grows as it is read.
  size_t capacity = S_ISREG(st.st_mode) && st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0;
  out.resize(capacity + 1);  // one byte more: end of file is seen in the same loop
  size_t used = 0;
  while (true) {
    if (used == out.size()) out.resize(out.size() * 2);
    const ssize_t n = ::read(fd, &out[used], out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      throw InputError(path + ": read error (" + std::strerror(errno) + ")");
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(used);
  return out;
}

void make_dirs(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec && !fs::is_directory(path))
    throw InputError(path + ": cannot create folder (" + ec.message() + ")");
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

static void write_all(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(path + ": write failed (" + std::strerror(errno) + ")");
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  make_dirs(dir.string());
  // A process killed before the rename leaves this file behind; the next
  // run in the folder removes it (remove_stale_temp_files, util/atomic_temp.h).
  const std::string tmp = atomic_temp_path(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw InputError(path + ": cannot write (" + std::strerror(errno) + ")");
  try {
    write_all(fd, bytes.data(), bytes.size(), path);
    if (::fsync(fd) != 0)
      throw std::runtime_error(path + ": fsync failed (" + std::strerror(errno) + ")");
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw std::runtime_error(path + ": rename failed (" + why + ")");
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace sparseloop
