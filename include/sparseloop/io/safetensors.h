// safetensors: the tensor file format Python, Rust and JS load directly
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// optional "__metadata__" {string: string}, then the raw little-endian data.
// Files are untrusted input: every field is validated, and a malformed file
// raises InputError naming the file and the problem, never a crash.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// Named tensors in file order, plus the string metadata.
struct TensorFile {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  /// The tensor called `name`; throws InputError naming `source` and the
  /// names present when it is missing.
  const torch::Tensor& get(const std::string& name) const;
  bool contains(const std::string& name) const;
  std::string source;  ///< the file it was read from (for messages)
};

/// Parses safetensors bytes; `source` names the origin in error messages.
TensorFile parse_safetensors(const std::string& bytes, const std::string& source);
/// Reads a safetensors file (CPU tensors, the stored dtype).
TensorFile load_safetensors(const std::string& path);

/// Serializes tensors (moved to CPU, made contiguous) to safetensors bytes.
/// Names must be unique and non-empty; "__metadata__" is reserved.
std::string serialize_safetensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});
/// Writes a safetensors file atomically (temp file, fsync, rename).
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace sparseloop
