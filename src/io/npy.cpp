// .npy reader (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// "\x93NUMPY", major, minor, header length (2 bytes little-endian in v1,
// 4 bytes in v2/v3), then a Python dict literal padded with spaces and '\n'.
#include "sparseloop/io/npy.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>

#include "sparseloop/util/error.h"

namespace sparseloop {
namespace {

// A tiny parser for exactly the literals numpy writes in the header:
// {'key': 'str' | True | False | (int, ...), ...}
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  struct Value {
    enum Kind { kString, kBool, kTuple } kind = kString;
    std::string str;
    bool flag = false;
    std::vector<int64_t> ints;
  };

  std::map<std::string, Value> dict() {
    std::map<std::string, Value> out;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') {
        ++at_;
        break;
      }
      const std::string key = quoted();
      expect(':');
      out[key] = value();
      skip_space();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      expect('}');
      break;
    }
    skip_space();
    if (at_ != s_.size()) fail("unexpected text after the dict");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw InputError(path_ + ": bad .npy header (" + what + " at character " + std::to_string(at_) +
                     " of '" + printable() + "')");
  }
  std::string printable() const {
    std::string p;
    for (char c : s_.substr(0, 120)) p += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return p;
  }
  void skip_space() {
    while (at_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[at_]))) ++at_;
  }
  char peek() { return at_ < s_.size() ? s_[at_] : '\0'; }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++at_;
  }
  std::string quoted() {
    skip_space();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t end = s_.find(q, at_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string v = s_.substr(at_ + 1, end - at_ - 1);
    at_ = end + 1;
    return v;
  }
  int64_t integer() {
    skip_space();
    size_t start = at_;
    while (at_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[at_]))) ++at_;
    if (at_ == start || at_ - start > 18) fail("expected a non-negative integer");
    // numpy may write Python 2 longs as "3L".
    if (peek() == 'L') ++at_;
    return std::stoll(s_.substr(start, at_ - start));
  }
  Value value() {
    skip_space();
    Value v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = Value::kString;
      v.str = quoted();
    } else if (s_.compare(at_, 4, "True") == 0 || s_.compare(at_, 5, "False") == 0) {
      v.kind = Value::kBool;
      v.flag = s_[at_] == 'T';
      at_ += v.flag ? 4 : 5;
    } else if (c == '(') {
      v.kind = Value::kTuple;
      ++at_;
      skip_space();
      while (peek() != ')') {
        v.ints.push_back(integer());
        skip_space();
        if (peek() == ',') {
          ++at_;
          skip_space();
        } else if (peek() != ')') {
          fail("expected ',' or ')' in the shape");
        }
      }
      ++at_;
    } else {
      fail("expected a string, True/False or a tuple");
    }
    return v;
  }

  const std::string& s_;
  const std::string& path_;
  size_t at_ = 0;
};

bool dtype_of(const std::string& descr, torch::ScalarType& dtype) {
  // Single bytes have no byte order: numpy writes '|u1' but '<u1' is the same.
  static const std::map<std::string, torch::ScalarType> kTypes = {
      {"|u1", torch::kByte}, {"<u1", torch::kByte},  {">u1", torch::kByte},  {"<i8", torch::kLong},
      {"<i4", torch::kInt},  {"<f4", torch::kFloat}, {"<f8", torch::kDouble}};
  auto it = kTypes.find(descr);
  if (it == kTypes.end()) return false;
  dtype = it->second;
  return true;
}

uint64_t le_uint(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

int64_t NpyInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

uint64_t NpyInfo::row_bytes() const {
  uint64_t n = c10::elementSize(dtype);
  for (size_t i = 1; i < shape.size(); ++i) n *= static_cast<uint64_t>(shape[i]);
  return n;
}

NpyInfo inspect_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), path + ": cannot open (missing or unreadable)");
  NpyInfo info;
  in.seekg(0, std::ios::end);
  info.file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char pre[12] = {};
  in.read(reinterpret_cast<char*>(pre), sizeof(pre));
  const auto got = static_cast<size_t>(in.gcount());
  require(got >= 10 && std::memcmp(pre, "\x93NUMPY", 6) == 0,
          path + ": not a .npy file (missing the \\x93NUMPY magic)");
  const int major = pre[6];
  require(major >= 1 && major <= 3, path + ": unsupported .npy format version " +
                                        std::to_string(major) + "." + std::to_string(pre[7]));
  const int len_bytes = major == 1 ? 2 : 4;
  require(got >= static_cast<size_t>(8 + len_bytes), path + ": truncated .npy header");
  const uint64_t header_len = le_uint(pre + 8, len_bytes);
  info.data_offset = 8 + len_bytes + header_len;
  require(header_len <= 1 << 20 && info.data_offset <= info.file_size,
          path + ": truncated .npy header (header length " + std::to_string(header_len) +
              " exceeds the file)");
  std::string header(header_len, '\0');
  in.seekg(8 + len_bytes);
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  require(static_cast<uint64_t>(in.gcount()) == header_len, path + ": truncated .npy header");

  auto dict = HeaderParser(header, path).dict();
  for (const char* key : {"descr", "fortran_order", "shape"})
    require(dict.count(key), path + ": bad .npy header (no '" + key + "' key)");
  const auto& descr = dict["descr"];
  const auto& fortran = dict["fortran_order"];
  const auto& shape = dict["shape"];
  require(descr.kind == HeaderParser::Value::kString,
          path +
              ": bad .npy header ('descr' must be a string; structured arrays are not "
              "supported)");
  require(fortran.kind == HeaderParser::Value::kBool,
          path + ": bad .npy header ('fortran_order' must be True or False)");
  require(shape.kind == HeaderParser::Value::kTuple,
          path + ": bad .npy header ('shape' must be a tuple)");
  info.descr = descr.str;
  require(dtype_of(info.descr, info.dtype),
          path + ": unsupported dtype '" + info.descr +
              "' (supported: |u1 <i8 <i4 <f4 <f8; convert with arr.astype(...))");
  require(!fortran.flag, path +
                             ": Fortran-order arrays are not supported (save "
                             "np.ascontiguousarray(arr) instead)");
  info.shape = shape.ints;
  // LibTorch sizes a tensor by Π max(dim, 1) and throws c10::Error once that,
  // in bytes, passes 2^63 − 1, even for an empty array: (0, 10^18, 10^18)
  // must be refused here, as input (the same check as safetensors.cpp).
  uint64_t extent = c10::elementSize(info.dtype);
  for (int64_t d : info.shape)
    require(!__builtin_mul_overflow(extent, static_cast<uint64_t>(std::max<int64_t>(d, 1)),
                                    &extent) &&
                extent <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
            path + ": bad .npy header (the shape's size exceeds 2^63 - 1 bytes)");
  // Overflow-safe element count: stop as soon as it exceeds the file.
  unsigned __int128 bytes = c10::elementSize(info.dtype);
  for (int64_t d : info.shape) bytes = std::min<unsigned __int128>(bytes * d, ~uint64_t{0});
  const uint64_t have = info.file_size - info.data_offset;
  std::string dims;
  for (int64_t d : info.shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  require(bytes == have, path + (bytes > have ? ": truncated: " : ": size mismatch: ") + "shape (" +
                             dims + ") of " + info.descr + " needs " +
                             std::to_string(static_cast<uint64_t>(bytes)) +
                             " data bytes but the file holds " + std::to_string(have));
  return info;
}

torch::Tensor read_npy_rows(const std::string& path, int64_t start, int64_t count) {
  const NpyInfo info = inspect_npy(path);
  TORCH_CHECK(!info.shape.empty(), "read_npy_rows: ", path, " holds a scalar, not rows");
  TORCH_CHECK(start >= 0 && count >= 0 && start + count <= info.shape[0], "read_npy_rows: rows [",
              start, ", ", start + count, ") outside the ", info.shape[0], " rows of ", path);
  std::vector<int64_t> shape = info.shape;
  shape[0] = count;
  auto out = torch::empty(shape, info.dtype);
  const uint64_t nbytes = info.row_bytes() * static_cast<uint64_t>(count);
  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), path + ": cannot open");
  in.seekg(static_cast<std::streamoff>(info.data_offset + info.row_bytes() * start));
  // .npy data is little-endian, as is every machine LibTorch runs on here.
  in.read(static_cast<char*>(out.data_ptr()), static_cast<std::streamsize>(nbytes));
  require(static_cast<uint64_t>(in.gcount()) == nbytes, path + ": read error (file changed?)");
  return out;
}

torch::Tensor read_npy(const std::string& path) {
  const NpyInfo info = inspect_npy(path);
  if (info.shape.empty()) {
    auto out = torch::empty({}, info.dtype);
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(info.data_offset));
    in.read(static_cast<char*>(out.data_ptr()), static_cast<std::streamsize>(out.nbytes()));
    require(static_cast<size_t>(in.gcount()) == out.nbytes(), path + ": read error");
    return out;
  }
  return read_npy_rows(path, 0, info.shape[0]);
}

}  // namespace sparseloop
