#include "sparseloop/util/gzip.h"

#include <cstring>
#include <limits>
#include <stdexcept>

#include <zlib.h>

#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {

bool is_gzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

std::string gunzip(const std::string& bytes, const std::string& source) {
  require(is_gzip(bytes), source + ": not gzip data (no 1f 8b magic)");
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  // 16 + MAX_WBITS: gzip wrapper only, so a raw zlib stream is not mistaken for one.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    throw std::runtime_error(source + ": zlib initialisation failed");
  std::string out;
  out.reserve(bytes.size() * 4);
  size_t consumed = 0;
  char buf[1 << 16];
  int rc = Z_OK;
  // zlib's avail_in is 32-bit: feed at most 1 GiB at a time.
  constexpr size_t kMaxChunk = size_t{1} << 30;
  while (true) {
    if (zs.avail_in == 0 && consumed < bytes.size()) {
      const size_t n = std::min(kMaxChunk, bytes.size() - consumed);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + consumed));
      zs.avail_in = static_cast<uInt>(n);
      consumed += n;
    }
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (rc == Z_STREAM_END) {
      const size_t left = zs.avail_in + (bytes.size() - consumed);
      if (left == 0) break;
      // Another member follows, or zero padding some tools append.
      const size_t at = bytes.size() - left;
      if (bytes.find_first_not_of('\0', at) == std::string::npos) break;
      if (inflateReset(&zs) != Z_OK) break;
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && consumed == bytes.size()) {
      inflateEnd(&zs);
      throw InputError(source + ": truncated gzip data (the stream ends early; download it again)");
    }
    const std::string why = zs.msg ? zs.msg : "error " + std::to_string(rc);
    inflateEnd(&zs);
    throw InputError(source + ": corrupt gzip data (" + why + ")");
  }
  inflateEnd(&zs);
  return out;
}

std::string read_file_maybe_gzip(const std::string& path) {
  std::string bytes = read_file(path);
  return is_gzip(bytes) ? gunzip(bytes, path) : bytes;
}

std::string gzip(const std::string& bytes) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("zlib deflate initialisation failed");
  std::string out;
  char buf[1 << 16];
  size_t consumed = 0;
  constexpr size_t kMaxChunk = size_t{1} << 30;
  int rc = Z_OK;
  do {
    if (zs.avail_in == 0 && consumed < bytes.size()) {
      const size_t n = std::min(kMaxChunk, bytes.size() - consumed);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + consumed));
      zs.avail_in = static_cast<uInt>(n);
      consumed += n;
    }
    const int flush = consumed == bytes.size() ? Z_FINISH : Z_NO_FLUSH;
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = deflate(&zs, flush);
    out.append(buf, sizeof(buf) - zs.avail_out);
  } while (rc != Z_STREAM_END && rc != Z_STREAM_ERROR);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("zlib deflate failed");
  return out;
}

}  // namespace sparseloop
