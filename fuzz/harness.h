// What every harness shares. A harness feeds one input to one reader the way
// the program does and accepts exactly one outcome besides success: an
// InputError (exit 2, one line). Any other exception escapes to libFuzzer,
// which records it as a crash (c10::Error, a JSON type error, std::bad_alloc
// from a size taken on trust: each is a bug of the reader), as are
// AddressSanitizer and UBSan findings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "sparseloop/util/error.h"

namespace sparseloop::fuzz {

inline std::string bytes_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// A folder of this process's own, for the readers that take a path (the
/// path is what the program hands them; going through a file fuzzes the
/// reader whole, its file handling included). Under /dev/shm when present.
const std::string& scratch_dir();

/// Writes `bytes` to scratch_dir()/name and returns the path.
std::string scratch_file(const std::string& name, const std::string& bytes);

/// Runs `read`, swallowing InputError only.
template <class F>
int expect_input_error_only(F&& read) {
  try {
    read();
  } catch (const InputError&) {
  }
  return 0;
}

}  // namespace sparseloop::fuzz
