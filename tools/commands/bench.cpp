// `sparseloop bench` (CLI.md): placeholder registration, filled in below.
#include "commands.h"

namespace sparseloop::cli {
void register_bench(CLI::App& app, std::vector<Command>& commands) {}
}  // namespace sparseloop::cli
