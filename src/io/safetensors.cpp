#include "sparseloop/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace {

using json = nlohmann::json;

// Headers beyond this are rejected (the reference implementation uses 100 MB).
constexpr uint64_t kMaxHeader = 100ull * 1024 * 1024;

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  int64_t size;
};

const DtypeInfo kDtypes[] = {
    {"F64", torch::kDouble, 8}, {"F32", torch::kFloat, 4},  {"F16", torch::kHalf, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kLong, 8}, {"I32", torch::kInt, 4},
    {"I16", torch::kShort, 2},  {"I8", torch::kChar, 1},    {"U8", torch::kByte, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* dtype_by_name(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo* dtype_by_type(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (t == d.type) return &d;
  return nullptr;
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw InputError(source + ": not a valid safetensors file: " + what);
}

struct Entry {
  std::string name;
  const DtypeInfo* dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

}  // namespace

const torch::Tensor& TensorFile::get(const std::string& name) const {
  for (const auto& kv : tensors)
    if (kv.first == name) return kv.second;
  std::string names;
  for (const auto& kv : tensors) names += (names.empty() ? "" : ", ") + kv.first;
  throw InputError(source + ": no tensor named '" + name + "' (it holds: " +
                   (names.empty() ? "nothing" : names) + ")");
}

bool TensorFile::contains(const std::string& name) const {
  for (const auto& kv : tensors)
    if (kv.first == name) return true;
  return false;
}

TensorFile parse_safetensors(const std::string& bytes, const std::string& source) {
  if (bytes.size() < 8) fail(source, "shorter than the 8-byte header length (truncated?)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  if (n > kMaxHeader) fail(source, "header length " + std::to_string(n) + " is implausibly large");
  if (n > bytes.size() - 8)
    fail(source, "header length " + std::to_string(n) + " exceeds the file size " +
                     std::to_string(bytes.size()) + " (truncated?)");
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(n));
  } catch (const std::exception& e) {
    fail(source, std::string("header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) fail(source, "header is not a JSON object");
  const uint64_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;

  TensorFile out;
  out.source = source;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(source, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(source, "__metadata__ value of '" + m.key() + "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets"))
      fail(source, "entry '" + name + "' lacks dtype, shape or data_offsets");
    if (!v["dtype"].is_string()) fail(source, "dtype of '" + name + "' is not a string");
    Entry e;
    e.name = name;
    e.dtype = dtype_by_name(v["dtype"].get<std::string>());
    if (!e.dtype)
      fail(source, "tensor '" + name + "' has unsupported dtype " + v["dtype"].get<std::string>() +
                       " (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    const json& shape = v["shape"];
    if (!shape.is_array()) fail(source, "shape of '" + name + "' is not an array");
    // LibTorch sizes a contiguous tensor by Π max(dim, 1) (its strides and
    // storage use 1 for an empty dimension) and throws c10::Error once that,
    // in bytes, passes 2^63 − 1, even when a zero dimension makes the tensor
    // empty: [0, 2^63] or [0, 2^62, 2^62] must be refused here, as input.
    uint64_t numel = 1, extent = 1;
    const auto max_bytes = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    for (const auto& s : shape) {
      if (!s.is_number_unsigned())
        fail(source, "shape of '" + name + "' has a non-integer or negative size");
      const uint64_t dim = s.get<uint64_t>();
      uint64_t bytes = 0;
      if (__builtin_mul_overflow(extent, std::max<uint64_t>(dim, 1), &extent) ||
          __builtin_mul_overflow(extent, static_cast<uint64_t>(e.dtype->size), &bytes) ||
          bytes > max_bytes)
        fail(source, "shape of '" + name + "' overflows (" + shape.dump().substr(0, 80) +
                         " elements of " + std::to_string(e.dtype->size) +
                         " bytes exceed 2^63 - 1 bytes)");
      numel *= dim;  // ≤ extent: cannot overflow
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned())
      fail(source, "data_offsets of '" + name + "' must be two non-negative integers");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.begin > e.end) fail(source, "data_offsets of '" + name + "' are reversed");
    if (e.end > data_size)
      fail(source, "tensor '" + name + "' ends at byte " + std::to_string(e.end) +
                       " past the data section of " + std::to_string(data_size) +
                       " bytes (truncated?)");
    if (e.end - e.begin != numel * static_cast<uint64_t>(e.dtype->size))
      fail(source, "tensor '" + name + "' has " + std::to_string(e.end - e.begin) +
                       " bytes but its shape and dtype need " +
                       std::to_string(numel * e.dtype->size));
    entries.push_back(std::move(e));
  }
  // The byte ranges must tile the data section: no overlap, no gap.
  std::vector<const Entry*> sorted;
  for (const auto& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  for (const Entry* e : sorted) {
    if (e->begin < cursor) fail(source, "tensor '" + e->name + "' overlaps another tensor");
    if (e->begin > cursor) fail(source, "gap before tensor '" + e->name + "' in the data section");
    cursor = e->end;
  }
  if (cursor != data_size)
    fail(source, "data section has " + std::to_string(data_size - cursor) + " unreferenced bytes");

  for (const auto& e : entries) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data + e.begin, e.end - e.begin);
    if (e.dtype->type == torch::kBool) {
      // Only 0/1 are valid bool bytes.
      auto raw = torch::from_blob(t.data_ptr(), {t.numel()}, torch::kByte);
      if (raw.numel() && raw.gt(1).any().item<bool>())
        fail(source, "BOOL tensor '" + e.name + "' holds bytes other than 0 and 1");
    }
    out.tensors.emplace_back(e.name, t);
  }
  // Keep file order (data offsets) rather than JSON's key order.
  std::stable_sort(out.tensors.begin(), out.tensors.end(), [&](const auto& a, const auto& b) {
    auto pos = [&](const std::string& nm) {
      for (const auto& e : entries)
        if (e.name == nm) return e.begin;
      return uint64_t(0);
    };
    return pos(a.first) < pos(b.first);
  });
  return out;
}

TensorFile load_safetensors(const std::string& path) {
  return parse_safetensors(read_file(path), path);
}

std::string serialize_safetensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  std::vector<torch::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& kv : tensors) {
    TORCH_CHECK(!kv.first.empty() && kv.first != "__metadata__",
                "safetensors: invalid tensor name '", kv.first, "'");
    TORCH_CHECK(seen.insert(kv.first).second, "safetensors: duplicate tensor name '", kv.first, "'");
    TORCH_CHECK(kv.second.defined(), "safetensors: tensor '", kv.first, "' is undefined");
    auto t = kv.second.detach().to(torch::kCPU).contiguous();
    const DtypeInfo* d = dtype_by_type(t.scalar_type());
    TORCH_CHECK(d, "safetensors: tensor '", kv.first, "' has unsupported dtype ", t.scalar_type());
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * d->size;
    header[kv.first] = {{"dtype", d->name},
                        {"shape", t.sizes().vec()},
                        {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    contiguous.push_back(t);
  }
  std::string h = header.dump();
  // Pad the header with spaces so the data starts 8-byte aligned.
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += h;
  out.reserve(out.size() + offset);
  for (const auto& t : contiguous)
    out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace sparseloop
