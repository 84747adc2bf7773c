// Errors that reach the user. The CLI maps InputError to exit code 2 with a
// one-line message naming the flag or file; anything else is exit code 1.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace sparseloop {

/// Bad usage or bad input (a missing or malformed file, a nonsense flag
/// value, a shape that does not fit). `what()` is one line that names the
/// offending flag or file and says what to do.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

/// Numerical breakdown during training or solving (NaN/Inf, a matrix that is
/// not positive definite): the run stops instead of continuing on garbage.
class NumericalError : public std::runtime_error {
 public:
  explicit NumericalError(const std::string& message) : std::runtime_error(message) {}
};

/// Throws InputError when `cond` is false. Use for data and I/O, never assert.
inline void require(bool cond, const std::string& message) {
  if (!cond) throw InputError(message);
}

/// Parses a comma-separated list of finite numbers given with `flag`; throws
/// InputError naming the flag and the bad item, or when the list is empty.
std::vector<double> parse_number_list(const std::string& text, const std::string& flag);

}  // namespace sparseloop
