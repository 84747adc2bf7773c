#include "cli.h"

#include <iostream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "sparseloop/engine/toml_text.h"
#include "sparseloop/util/compat.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/precision.h"

namespace sparseloop::cli {

void add_common_flags(CLI::App* cmd, CommonFlags& f, bool precision) {
  cmd->add_option("--device", f.device, "cpu | cuda | auto")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd->add_option("--seed", f.seed, "random seed")->capture_default_str();
  cmd->add_option("--threads", f.threads, "CPU threads (0: all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  if (precision)
    cmd->add_option("--precision", f.precision,
                    "fp32 | bf16: bf16 operands for convolutions and dense products, fp32 "
                    "results (docs/performance.md)")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--config", f.config,
                  "TOML file setting any flag (key = flag name without dashes); flags win");
  cmd->add_flag("--json", f.json, "print the final result as one JSON object on stdout");
}

torch::Device apply_common_flags(const CommonFlags& f) {
  int threads = f.threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  torch::manual_seed(f.seed);
  set_compute_precision(parse_precision(f.precision));
  return resolve_device(f.device);
}

CLI::App* add_command(CLI::App& parent, std::vector<Command>& commands, const std::string& name,
                      const std::string& description, std::function<int()> run) {
  CLI::App* app = parent.add_subcommand(name, description);
  commands.push_back(Command{app, std::move(run)});
  return app;
}

void print_json(const CommonFlags& flags, const nlohmann::json& result) {
  if (flags.json) std::cout << result.dump() << std::endl;
}


namespace {

std::string toml_value_to_flag(const toml::node& node, const std::string& key,
                               const std::string& file) {
  if (auto v = node.as_string()) return toml_text_as_written(v->get());
  if (auto v = node.as_integer()) return std::to_string(v->get());
  if (auto v = node.as_floating_point()) {
    std::ostringstream s;
    s.precision(17);
    s << v->get();
    return s.str();
  }
  if (auto v = node.as_boolean()) return v->get() ? "true" : "false";
  if (auto arr = node.as_array()) {
    std::string out;
    for (const auto& el : *arr) {
      if (!out.empty()) out += ",";
      out += toml_value_to_flag(el, key, file);
    }
    return out;
  }
  throw InputError(file + ": key '" + key + "' must be a string, number, boolean or array");
}

}  // namespace

std::vector<std::string> expand_config(const std::vector<std::string>& args) {
  // Find --config FILE / --config=FILE.
  std::string file;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) file = args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) file = args[i].substr(9);
  }
  if (file.empty()) return args;
  // Through the guard that keeps toml++ 3.3.0 clear of its undefined
  // behaviour (engine/toml_text.h); keys and strings are read back with
  // toml_text_as_written().
  toml::table table;
  try {
    table = parse_toml_file(file);
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + "; fix it or drop --config");
  }
  // Flags the user gave explicitly win over the file.
  std::set<std::string> given;
  for (const auto& a : args) {
    if (a.rfind("--", 0) != 0) continue;
    auto eq = a.find('=');
    given.insert(a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2));
  }
  // Subcommand words come first (everything before the first flag).
  std::vector<std::string> out;
  size_t i = 0;
  for (; i < args.size() && args[i].rfind("-", 0) != 0; ++i) out.push_back(args[i]);
  for (const auto& [k, node] : table) {
    const std::string key = toml_text_as_written(std::string(k.str()));
    std::string flag = key;
    for (auto& c : flag)
      if (c == '_') c = '-';
    if (flag == "config" || given.count(flag)) continue;
    if (node.is_table())
      throw InputError(file + ": nested table [" + key +
                       "] is not supported; put flags at the top level");
    out.push_back("--" + flag + "=" + toml_value_to_flag(node, key, file));
  }
  for (; i < args.size(); ++i) out.push_back(args[i]);
  return out;
}

}  // namespace sparseloop::cli
