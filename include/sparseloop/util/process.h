// Running external programs (npm, apt-get, dpkg-deb) without a shell, so
// that paths with spaces or quotes need no escaping, and with their output
// captured so that it never mixes into ours (stdout may carry --json).
#pragma once

#include <string>
#include <vector>

namespace sparseloop {

struct ProcessResult {
  int exit_code = -1;  ///< the program's exit status; 128 + n when killed by signal n
  std::string output;  ///< stdout and stderr, interleaved
};

/// Runs `argv[0]` (looked up on PATH) with `argv` in folder `cwd` ("" = here)
/// and waits for it. Throws std::runtime_error when it cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& cwd = "");

/// The full path of `program` on PATH, or "" when absent.
std::string find_on_path(const std::string& program);

/// The last non-empty line of `text` (for one-line error messages).
std::string last_line(const std::string& text);

}  // namespace sparseloop
