// `sparseloop train` (CLI.md). Flags come from the config structs' visit()
// lists: the common ones, then every family's in its own --help group.
// Precedence: flags > --config file > --preset > defaults; with --resume the
// run's saved config.toml replaces config file and preset.
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "commands.h"
#include "sparseloop/train/config.h"
#include "sparseloop/train/ctrl_trainer.h"
#include "sparseloop/train/families.h"
#include "sparseloop/train/vdl_trainer.h"
#include "sparseloop/train/sdnet_trainer.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/signals.h"
#include "train_bindings.h"

namespace sparseloop::cli {

std::vector<FamilyBinding> family_bindings() {
  std::vector<FamilyBinding> out;
  // Each family adds its binding here.
  out.push_back(make_binding<ModelFamily::kCtrl, CtrlConfig>("CSC-CTRL / CTRL", &train_ctrl));
  out.push_back(make_binding<ModelFamily::kVdl, VdlConfig>("SDL / VDL", &train_vdl));
  out.push_back(make_binding<ModelFamily::kSdnet, SdnetConfig>("SDNet / ResNet options",
                                                               &train_sdnet));
  return out;
}

namespace {

struct TrainFlags {
  std::map<std::string, std::string> values;  ///< key → value text as given
  std::map<std::string, CLI::Option*> options;
  bool list_presets = false;
};

void print_presets() {
  std::cout << "Presets (sparseloop train --preset NAME):\n";
  for (const auto& p : presets()) {
    std::cout << "  " << p.name << (p.model.empty() ? "" : "  [" + p.model + "]") << "\n      "
              << p.description << "\n      ";
    std::string vals;
    for (const auto& [k, v] : p.values) vals += "--" + k + " " + v + "  ";
    std::cout << vals << "\n";
  }
  if (presets().empty()) std::cout << "  (none)\n";
}

int run_train(TrainFlags& f) {
  if (f.list_presets) {
    print_presets();
    return 0;
  }
  ConfigValues explicit_values;
  for (const auto& [key, opt] : f.options)
    if (opt->count() > 0) explicit_values[key] = f.values[key];

  // Base values: the saved config when resuming, else preset + config file.
  ConfigValues values;
  std::string source = "command line";
  const bool resume = explicit_values.count("resume") && explicit_values["resume"] != "false";
  const std::string out = explicit_values.count("out") ? explicit_values["out"] : "";
  if (resume && !out.empty() && file_exists(out + "/config.toml")) {
    values = read_config_file(out + "/config.toml");
    source = out + "/config.toml";
  } else {
    ConfigValues file_values;
    if (explicit_values.count("config")) {
      file_values = read_config_file(explicit_values["config"]);
      source = explicit_values["config"];
    }
    std::string preset_name = explicit_values.count("preset")   ? explicit_values["preset"]
                              : file_values.count("preset")     ? file_values["preset"]
                                                                : "";
    if (!preset_name.empty()) {
      const Preset& p = find_preset(preset_name);
      values = p.values;
      if (!p.model.empty()) values["model"] = p.model;
      values["preset"] = preset_name;
    }
    for (const auto& [k, v] : file_values) values[k] = v;
  }
  for (const auto& [k, v] : explicit_values) values[k] = v;
  const bool want_json = values.count("json") && values["json"] != "false";
  values.erase("config");
  values.erase("list-presets");
  values.erase("json");

  CommonTrainConfig common;
  ValuesReader common_reader(values, source);
  common.visit(common_reader);
  require(!common.model.empty(), "--model is required (or a --preset that names one)");
  require(!common.out.empty(), "--out RUN_DIR is required");
  const ModelFamily family = family_of_model(common.model);
  for (const auto& b : family_bindings()) {
    if (b.family != family) continue;
    std::vector<std::string> unused;
    ConfigValues family_values;
    std::set<std::string> common_keys;
    SpecCollector sc;
    CommonTrainConfig().visit(sc);
    for (const auto& s : sc.specs) common_keys.insert(s.key);
    for (const auto& [k, v] : values)
      if (!common_keys.count(k)) family_values[k] = v;
    install_stop_handlers();
    nlohmann::json result;
    try {
      result = b.train(common, family_values, source, unused);
    } catch (const StopRequested& stop) {
      say("stopped by signal; resume with: sparseloop train --out " + common.out + " --resume");
      return stop.code();
    }
    if (want_json) std::cout << result.dump() << std::endl;
    return 0;
  }
  throw InputError("--model " + common.model + ": training for the " +
                   std::string(family_title(family)) + " family is not available in this build");
}

}  // namespace

void register_train(CLI::App& app, std::vector<Command>& commands) {
  auto f = std::make_shared<TrainFlags>();
  auto* cmd = add_command(app, commands, "train", "Train a model (see --list-presets)",
                          [f] { return run_train(*f); });
  cmd->add_flag("--list-presets", f->list_presets, "list the hyperparameter presets and exit");
  cmd->add_option("--config", f->values["config"],
                  "TOML file setting any flag (key = flag name); flags win");
  std::set<std::string> registered{"config"};
  auto add = [&](const FlagSpec& s, const std::string& group) {
    if (registered.count(s.key)) return;
    registered.insert(s.key);
    CLI::Option* opt;
    if (s.is_bool) {
      opt = cmd->add_flag("--" + s.key, f->values[s.key], s.help);
    } else {
      opt = cmd->add_option("--" + s.key, f->values[s.key], s.help)->type_name(s.type_name);
      opt->default_str(s.default_text);
    }
    opt->group(group);
    f->options[s.key] = opt;
  };
  SpecCollector common;
  CommonTrainConfig().visit(common);
  for (const auto& s : common.specs) add(s, "Run");
  for (const auto& b : family_bindings())
    for (const auto& s : b.flags()) add(s, b.title);
  cmd->add_flag("--json", f->values["json"], "print the final result as one JSON object");
  f->options["json"] = cmd->get_option("--json");
}

}  // namespace sparseloop::cli
