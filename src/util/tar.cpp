#include "sparseloop/util/tar.h"

#include <cstdint>

#include "sparseloop/util/error.h"

namespace sparseloop {
namespace {

constexpr size_t kBlock = 512;

// Header field offsets and widths (POSIX.1-1988 ustar).
struct Field {
  size_t offset, width;
};
constexpr Field kName{0, 100}, kSize{124, 12}, kChecksum{148, 8}, kType{156, 1}, kMagic{257, 6},
    kPrefix{345, 155};

std::string c_string(const char* h, Field f) {
  size_t n = 0;
  while (n < f.width && h[f.offset + n] != '\0') ++n;
  return std::string(h + f.offset, n);
}

// Octal number, NUL/space padded; GNU base-256 (high bit set) for large sizes.
bool parse_number(const char* h, Field f, uint64_t& value) {
  const auto* p = reinterpret_cast<const unsigned char*>(h + f.offset);
  value = 0;
  if (p[0] & 0x80) {
    if (p[0] != 0x80) return false;  // negative base-256 numbers make no sense here
    for (size_t i = 1; i < f.width; ++i) {
      if (value >> 56) return false;
      value = (value << 8) | p[i];
    }
    return true;
  }
  size_t i = 0;
  while (i < f.width && p[i] == ' ') ++i;
  bool digits = false;
  for (; i < f.width && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (value >> 60) return false;
    value = value * 8 + (p[i] - '0');
    digits = true;
  }
  for (; i < f.width; ++i)
    if (p[i] != ' ' && p[i] != '\0') return false;
  return digits;
}

bool all_zero(const char* h) {
  for (size_t i = 0; i < kBlock; ++i)
    if (h[i] != '\0') return false;
  return true;
}

// pax records "LEN key=value\n"; only `path` matters to us.
std::string pax_path(const std::string& data, const std::string& where) {
  std::string path;
  size_t at = 0;
  while (at < data.size()) {
    size_t space = data.find(' ', at);
    require(space != std::string::npos, where + ": malformed pax header");
    size_t len = 0;
    try {
      len = std::stoul(data.substr(at, space - at));
    } catch (const std::exception&) {
      throw InputError(where + ": malformed pax record length");
    }
    require(len > space - at + 1 && at + len <= data.size() && data[at + len - 1] == '\n',
            where + ": malformed pax record");
    const std::string record = data.substr(space + 1, at + len - space - 2);
    const size_t eq = record.find('=');
    require(eq != std::string::npos, where + ": malformed pax record (no '=')");
    if (record.substr(0, eq) == "path") path = record.substr(eq + 1);
    at += len;
  }
  return path;
}

}  // namespace

std::vector<TarEntry> read_tar(const std::string& bytes, const std::string& source) {
  std::vector<TarEntry> entries;
  std::string long_name;  // from a preceding 'L' or 'x' entry
  size_t at = 0;
  bool ended = false;
  while (at + kBlock <= bytes.size()) {
    const char* h = bytes.data() + at;
    const std::string where = source + " (tar header at byte " + std::to_string(at) + ")";
    if (all_zero(h)) {
      ended = true;  // end-of-archive marker: two zero blocks (one is tolerated)
      break;
    }
    // Checksum: byte sum of the header with the checksum field read as spaces.
    uint64_t stored = 0;
    require(parse_number(h, kChecksum, stored), where + ": not a tar header (bad checksum field)");
    uint64_t sum = 0;
    for (size_t i = 0; i < kBlock; ++i) {
      const bool in_field = i >= kChecksum.offset && i < kChecksum.offset + kChecksum.width;
      sum += in_field ? ' ' : static_cast<unsigned char>(h[i]);
    }
    require(sum == stored, where + ": header checksum mismatch (corrupt archive)");
    const std::string magic = c_string(h, kMagic);
    require(magic == "ustar" || magic == "ustar ",
            where + ": not a ustar archive (magic '" + magic + "')");
    uint64_t size = 0;
    require(parse_number(h, kSize, size), where + ": bad size field");
    const size_t data_at = at + kBlock;
    require(size <= bytes.size() - data_at,
            where + ": truncated: entry of " + std::to_string(size) + " bytes but only " +
                std::to_string(bytes.size() - data_at) + " bytes follow");
    const char type = h[kType.offset] == '\0' ? '0' : h[kType.offset];
    std::string data = bytes.substr(data_at, size);
    const size_t padded = (size + kBlock - 1) / kBlock * kBlock;
    at = data_at + std::min<size_t>(padded, bytes.size() - data_at);

    if (type == 'L') {  // GNU long name: the next entry's path
      long_name = data.substr(0, data.find('\0'));
      continue;
    }
    if (type == 'x') {  // pax extended header for the next entry
      long_name = pax_path(data, where);
      continue;
    }
    if (type == 'g') continue;  // pax global header: nothing we use

    TarEntry e;
    e.type = type;
    if (!long_name.empty()) {
      e.name = long_name;
      long_name.clear();
    } else {
      const std::string prefix = c_string(h, kPrefix);
      const std::string name = c_string(h, kName);
      e.name = prefix.empty() ? name : prefix + "/" + name;
    }
    require(!e.name.empty(), where + ": entry with an empty name");
    if (type == '0' || type == '7') {
      e.type = '0';
      e.data = std::move(data);
    }
    entries.push_back(std::move(e));
  }
  require(ended || at == bytes.size(), source + ": truncated tar archive (" +
                                           std::to_string(bytes.size() - at) +
                                           " stray bytes at the end)");
  return entries;
}

const TarEntry* find_tar_entry(const std::vector<TarEntry>& entries, const std::string& name) {
  for (const auto& e : entries)
    if (e.type == '0' && e.name == name) return &e;
  return nullptr;
}

}  // namespace sparseloop
