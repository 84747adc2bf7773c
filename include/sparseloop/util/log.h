// Human-readable status lines for long library calls (stderr; stdout stays
// free for a command's JSON result, docs/cli.md §1.4).
#pragma once

#include <string>

namespace sparseloop {

/// Writes `line` and a newline to stderr (rank 0 only in a distributed run).
void say(const std::string& line);

}  // namespace sparseloop
