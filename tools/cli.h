// Shared plumbing of the `sparseloop` program: common flags, --config
// expansion, JSON output. Commands live in tools/commands/, one file each;
// they parse and validate flags, then call the library.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/util/error.h"
#include "sparseloop/util/log.h"

namespace sparseloop::cli {

/// Flags every command takes (docs/cli.md §1.3).
struct CommonFlags {
  std::string device = "auto";
  uint64_t seed = 0;
  int threads = 0;
  std::string precision = "fp32";  ///< registered only where products run (util/precision.h)
  std::string config;
  bool json = false;
};

/// Adds --device --seed --threads --config --json to `cmd`, and --precision
/// when `precision` (commands that run a model: eval & co., bench).
void add_common_flags(CLI::App* cmd, CommonFlags& flags, bool precision = false);

/// Applies --threads, --seed and --precision; returns the device resolved from --device.
torch::Device apply_common_flags(const CommonFlags& flags);

/// One subcommand: its parser and what runs when it was chosen.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

/// Registers a subcommand under `parent` and returns its parser.
CLI::App* add_command(CLI::App& parent, std::vector<Command>& commands, const std::string& name,
                      const std::string& description, std::function<int()> run);

/// Prints `result` as one JSON line on stdout when --json was given.
void print_json(const CommonFlags& flags, const nlohmann::json& result);


/// Rewrites argv so that keys of the --config TOML file appear as flags
/// (before the user's own, so flags given on the command line win).
/// Throws InputError naming the file for unreadable or malformed files.
std::vector<std::string> expand_config(const std::vector<std::string>& args);


}  // namespace sparseloop::cli
