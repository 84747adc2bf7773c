// `sparseloop train` (docs/cli.md §4). The flags are the common ones plus those
// of the family the run is for (--model, the model of --preset or of the
// --config file, or the resumed run's), listed by the family's config struct
// with the defaults that will apply; a flag of another family is an error
// naming it. The engine resolves presets and trains (engine/family.h).
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "commands.h"
#include "sparseloop/engine/family.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/signals.h"

namespace sparseloop::cli {
namespace {

struct TrainFlags {
  std::map<std::string, std::string> values;  ///< key → value text as given
  std::map<std::string, CLI::Option*> options;
  bool list_presets = false;
  const Family* family = nullptr;  ///< the family the flags were registered for
  CLI::App* app = nullptr;
  std::vector<std::string> argv;   ///< the command line, for --nproc's ranks
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

/// The value of `--name X` / `--name=X` in args (after the subcommand), or "".
std::string scan(const std::vector<std::string>& args, const std::string& name, bool flag = false) {
  std::string found;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--" + name) {
      if (flag) found = "true";
      else if (i + 1 < args.size()) found = args[i + 1];
    } else if (args[i].rfind("--" + name + "=", 0) == 0) {
      found = args[i].substr(name.size() + 3);
    }
  }
  return found;
}

/// Explicit values that decide the family, scanned before parsing (the
/// parser's flags depend on the family).
ConfigValues scan_family_keys(const std::vector<std::string>& args) {
  ConfigValues v;
  for (const char* key : {"model", "preset", "config", "out", "data"}) {
    const std::string value = scan(args, key);
    if (!value.empty()) v[key] = value;
  }
  if (!scan(args, "resume", true).empty()) v["resume"] = scan(args, "resume", true);
  return v;
}

/// Which family other than `mine` declares `key`, or nullptr.
const Family* owner_of(const std::string& key, const Family* mine) {
  for (const auto& f : families()) {
    if (&f == mine || !f.flags) continue;
    for (const auto& s : f.flags())
      if (s.key == key) return &f;
  }
  return nullptr;
}

/// One-line error for arguments the parser did not take.
void reject_extras(const TrainFlags& f) {
  for (const auto& extra : f.app->remaining()) {
    if (extra.rfind("--", 0) != 0) throw InputError("unexpected argument '" + extra + "'");
    const std::string key = extra.substr(2, extra.find('=') == std::string::npos
                                                ? std::string::npos
                                                : extra.find('=') - 2);
    const Family* other = owner_of(key, f.family);
    if (!f.family)
      throw InputError("--" + key + ": give --model (or a --preset) first; each model family "
                       "has its own flags (sparseloop train --model MODEL --help)");
    if (other)
      throw InputError("--" + key + ": a flag of the " + other->title + " models, not of " +
                       f.family->title + " (sparseloop train --model " +
                       f.family->models.front() + " --help lists its flags)");
    throw InputError("--" + key + ": unknown flag (sparseloop train --model " +
                     f.family->models.front() + " --help lists the flags)");
  }
}

int run_train(TrainFlags& f) {
  if (f.list_presets) {
    print_presets();
    return 0;
  }
  // --resume of a folder that does not exist is a mistyped path far more
  // often than a wish to start over; before anything else (a family flag
  // would otherwise be refused for want of the --model the run's config
  // names). A folder that exists without a checkpoint, e.g. of a run killed
  // early, still starts from step 0 (docs/cli.md §4.8).
  const std::string out = f.values["out"];
  const std::string resume = f.values["resume"];
  if (f.options["resume"]->count() > 0 && resume != "false" && resume != "0" && !out.empty() &&
      !std::filesystem::exists(out))
    throw InputError("--out " + out + ": no such run folder to --resume; check the path (a new "
                     "run starts there without --resume)");
  reject_extras(f);
  ConfigValues explicit_values;
  for (const auto& [key, opt] : f.options)
    if (opt->count() > 0) explicit_values[key] = f.values[key];
  const bool want_json = explicit_values.count("json") && explicit_values["json"] != "false";
  explicit_values.erase("json");
  install_stop_handlers();
  nlohmann::json result;
  try {
    if (const int code = train_or_launch(explicit_values, f.argv, result)) return code;
  } catch (const StopRequested& stop) {
    // --out may have come from a --config file rather than the command line.
    const auto resolved = resolve_train_values(explicit_values).values;
    const auto out = resolved.find("out");
    say("stopped by signal; resume with: sparseloop train --out " +
        (out == resolved.end() ? std::string("RUN_DIR") : out->second) + " --resume");
    return stop.code();
  }
  if (want_json && !result.is_null() && world().root()) std::cout << result.dump() << std::endl;
  return 0;
}

}  // namespace

void register_train(CLI::App& app, std::vector<Command>& commands,
                    const std::vector<std::string>& args) {
  auto f = std::make_shared<TrainFlags>();
  auto* cmd = add_command(app, commands, "train", "Train a model (see --list-presets)",
                          [f] { return run_train(*f); });
  f->app = cmd;
  f->argv = args;
  cmd->allow_extras();
  const bool for_train = !args.empty() && args.front() == "train";
  ConfigValues known = for_train ? scan_family_keys(args) : ConfigValues{};
  // The defaults shown are those that will apply: the family's, overlaid by
  // the preset the run resolves to (named, or the family's for the data).
  ConfigValues shown;
  std::string preset_note;
  try {
    f->family = family_of_train(known);
    if (f->family) {
      shown = resolve_train_values(known).values;
      if (shown.count("preset"))
        preset_note = "Defaults shown are those of preset " + shown["preset"] + ".";
    }
  } catch (const InputError&) {
    // A bad --model, --preset or --config is reported when the command runs.
  }
  cmd->add_flag("--list-presets", f->list_presets, "list the hyperparameter presets and exit");
  cmd->add_option("--config", f->values["config"],
                  "TOML file setting any flag (key = flag name); flags win");
  f->options["config"] = cmd->get_option("--config");
  std::set<std::string> registered{"config"};
  auto add = [&](const FlagSpec& s, const std::string& group) {
    if (!registered.insert(s.key).second) return;
    CLI::Option* opt;
    const std::string def = shown.count(s.key) ? shown[s.key] : s.default_text;
    if (s.is_bool) {
      opt = cmd->add_flag("--" + s.key, f->values[s.key], s.help + " [" + def + "]");
    } else {
      opt = cmd->add_option("--" + s.key, f->values[s.key], s.help)->type_name(s.type_name);
      opt->default_str(def);
    }
    opt->group(group);
    f->options[s.key] = opt;
  };
  SpecCollector common;
  CommonTrainConfig().visit(common);
  for (const auto& s : common.specs) add(s, "Run");
  if (f->family) {
    for (const auto& s : f->family->flags()) add(s, f->family->title + " options");
  }
  std::string footer;
  if (!f->family) {
    footer = "Each model family has its own flags; `sparseloop train --model MODEL --help` lists "
             "them with their defaults. Models:";
    for (const auto& fam : families()) {
      footer += "\n  " + fam.title + ":";
      for (const auto& m : fam.models) footer += " " + m;
    }
  } else {
    footer = preset_note;
  }
  cmd->footer(footer);
  cmd->add_flag("--json", f->values["json"], "print the final result as one JSON object");
  f->options["json"] = cmd->get_option("--json");
}

}  // namespace sparseloop::cli
