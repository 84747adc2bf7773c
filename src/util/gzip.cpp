#include "sparseloop/util/gzip.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <zlib.h>

#include "sparseloop/util/error.h"

namespace sparseloop {

namespace fs = std::filesystem;

std::string read_file_maybe_gzip(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path + ": no such file");
  if (fs::is_directory(path, ec)) throw InputError(path + ": is a folder, expected a file");
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw InputError(path + ": cannot open (" + std::strerror(errno) + ")");
  gzbuffer(f, 1 << 17);
  std::string out;
  char buf[1 << 16];
  while (true) {
    const int n = gzread(f, buf, sizeof(buf));
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    if (n < static_cast<int>(sizeof(buf))) break;  // end of data, or an error gzerror reports
  }
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  const std::string why = msg ? msg : "";
  gzclose(f);
  // zlib reports a stream that ends early as Z_BUF_ERROR after returning what it had.
  if (err == Z_BUF_ERROR)
    throw InputError(path + ": truncated gzip data (the stream ends early; download it again)");
  if (err != Z_OK && err != Z_STREAM_END)
    throw InputError(path + ": corrupt gzip data (" + why + ")");
  return out;
}

}  // namespace sparseloop
