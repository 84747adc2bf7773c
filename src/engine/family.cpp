#include "sparseloop/engine/family.h"

#include <algorithm>
#include <filesystem>

#include "sparseloop/engine/distributed.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/output_path.h"

namespace sparseloop {
namespace {

std::vector<Family>& registry() {
  static std::vector<Family> families;
  return families;
}

std::string joined(const std::vector<std::string>& names, const std::string& sep) {
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : sep) + n;
  return all;
}

}  // namespace

std::string AnalysisRequest::output_dir(const std::string& command) const {
  return out.empty() ? run + "/" + command : out;
}

bool Family::has_model(const std::string& model) const {
  return std::find(models.begin(), models.end(), model) != models.end();
}

void register_family(Family family) {
  for (const auto& f : registry())
    if (f.name == family.name) return;
  registry().push_back(std::move(family));
}

const std::vector<Family>& families() { return registry(); }

std::vector<std::string> model_names() {
  std::vector<std::string> out;
  for (const auto& f : registry()) out.insert(out.end(), f.models.begin(), f.models.end());
  return out;
}

const Family& family_of_model(const std::string& model, const std::string& flag) {
  for (const auto& f : registry())
    if (f.has_model(model)) return f;
  throw InputError(flag + " '" + model + "': unknown model (one of: " + joined(model_names(), " ") +
                   ")");
}

std::string model_of_run(const std::string& run_dir) {
  const std::string cfg = run_dir + "/config.toml";
  require(file_exists(cfg), "--run " + run_dir +
                                ": not a sparseloop run (no config.toml); give the --out folder "
                                "of a `sparseloop train`");
  auto values = read_config_file(cfg);
  auto it = values.find("model");
  require(it != values.end(), cfg + ": has no 'model' key");
  family_of_model(it->second, cfg);
  return it->second;
}

std::vector<Preset> presets() {
  std::vector<Preset> out;
  for (const auto& f : registry()) out.insert(out.end(), f.presets.begin(), f.presets.end());
  return out;
}

const Preset& find_preset(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& f : registry())
    for (const auto& p : f.presets) {
      if (p.name == name) return p;
      names.push_back(p.name);
    }
  throw InputError("--preset '" + name + "': unknown preset (available: " +
                   (names.empty() ? std::string("none") : joined(names, ", ")) +
                   "; see sparseloop train --list-presets)");
}

namespace {

/// Overlays `upper` on `values`; when `upper` sets the training length in
/// epochs or steps, the other count from below no longer applies.
void overlay(ConfigValues& values, const ConfigValues& upper) {
  if (upper.count("epochs") || upper.count("max-steps")) {
    values.erase("epochs");
    values.erase("max-steps");
  }
  for (const auto& [k, v] : upper) values[k] = v;
}

std::string value_or(const ConfigValues& v, const std::string& key, const std::string& fallback) {
  auto it = v.find(key);
  return it == v.end() ? fallback : it->second;
}

bool is_true(const ConfigValues& v, const std::string& key) {
  auto it = v.find(key);
  return it != v.end() && it->second != "false" && it->second != "0";
}

/// The saved config.toml of a run being resumed, or empty.
std::string resumed_config(const ConfigValues& explicit_values) {
  if (!is_true(explicit_values, "resume")) return "";
  const std::string out = value_or(explicit_values, "out", "");
  if (out.empty() || !file_exists(out + "/config.toml")) return "";
  return out + "/config.toml";
}

}  // namespace

const Family* family_of_train(const ConfigValues& explicit_values) {
  auto model_in = [](const ConfigValues& v) -> std::string {
    if (v.count("model")) return v.at("model");
    if (v.count("preset")) return find_preset(v.at("preset")).model;
    return "";
  };
  std::string model = model_in(explicit_values);
  if (model.empty()) {
    const std::string saved = resumed_config(explicit_values);
    if (!saved.empty()) {
      model = value_or(read_config_file(saved), "model", "");
    } else if (explicit_values.count("config")) {
      model = model_in(read_config_file(explicit_values.at("config")));
    }
  }
  if (model.empty()) return nullptr;
  return &family_of_model(model);
}

TrainValues resolve_train_values(const ConfigValues& explicit_values) {
  TrainValues r;
  r.source = "command line";
  const std::string saved = resumed_config(explicit_values);
  if (!saved.empty()) {
    r.values = read_config_file(saved);
    r.source = saved;
  } else {
    ConfigValues file_values;
    if (explicit_values.count("config")) {
      file_values = read_config_file(explicit_values.at("config"));
      r.source = explicit_values.at("config");
    }
    std::string preset = value_or(explicit_values, "preset", value_or(file_values, "preset", ""));
    if (preset.empty()) {
      // No preset named: the family's preset for the data, if it has one.
      const Family* f = family_of_train(explicit_values);
      const std::string model = value_or(explicit_values, "model", value_or(file_values, "model", ""));
      const std::string data = value_or(explicit_values, "data", value_or(file_values, "data", "mnist"));
      if (f && f->default_preset) preset = f->default_preset(model, data);
    }
    if (!preset.empty()) {
      const Preset& p = find_preset(preset);
      r.values = p.values;
      if (!p.model.empty()) r.values["model"] = p.model;
      r.values["preset"] = preset;
    }
    overlay(r.values, file_values);
  }
  overlay(r.values, explicit_values);
  r.values.erase("config");
  return r;
}

nlohmann::json train(const ConfigValues& explicit_values) {
  TrainValues tv = resolve_train_values(explicit_values);
  CommonTrainConfig common;
  ValuesReader reader(tv.values, tv.source);
  common.visit(reader);
  require(!common.model.empty(), "--model is required (or a --preset that names one)");
  require(!common.out.empty(), "--out RUN_DIR is required");
  const Family& family = family_of_model(common.model);
  SpecCollector common_flags;
  CommonTrainConfig().visit(common_flags);
  ConfigValues family_values = tv.values;
  for (const auto& s : common_flags.specs) family_values.erase(s.key);
  require(static_cast<bool>(family.train),
          "--model " + common.model + ": training for the " + family.title +
              " family is not available in this build");
  // A run that fails on bad input before its first checkpoint (a flag the
  // family checks once its data is read, a batch larger than the dataset)
  // leaves no folder behind when it made the folder itself: nothing partial
  // is written (docs/cli.md §1.5). A folder that existed, or that holds a
  // checkpoint by now, is kept.
  std::error_code ec;
  const bool fresh = world().root() && !std::filesystem::exists(common.out, ec);
  auto forget_fresh_folder = [&] {
    const std::filesystem::path ckpt = std::filesystem::path(common.out) / "checkpoints";
    if (fresh && (!std::filesystem::exists(ckpt, ec) || std::filesystem::is_empty(ckpt, ec)))
      std::filesystem::remove_all(common.out, ec);
  };
  try {
    return family.train(common, family_values, tv.source);
  } catch (const InputError&) {
    forget_fresh_folder();
    throw;
  } catch (const c10::Error& e) {
    if (!distributed()) throw;
    const std::string what = e.what_without_backtrace();
    const std::string context = world().failure_context();
    throw std::runtime_error("rank " + std::to_string(world().rank()) +
                             ": a collective failed (" + what.substr(0, what.find('\n')) + ")" +
                             (context.empty() ? "" : "; " + context) +
                             "; another rank died or hangs, the last checkpoint stays valid");
  }
}

int train_or_launch(const ConfigValues& explicit_values, const std::vector<std::string>& argv,
                    nlohmann::json& summary) {
  TrainValues tv = resolve_train_values(explicit_values);
  CommonTrainConfig common;
  ValuesReader reader(tv.values, tv.source);
  common.visit(reader);
  require(common.nproc >= 1, "--nproc must be >= 1");
  check_common_ranges(common);
  // Both at one level (the command line, a config file): one would be
  // ignored silently. A level sets one and drops both below it (§4.3), so
  // presets never meet here.
  require(common.epochs == 0 || common.max_steps == 0,
          "--epochs " + std::to_string(common.epochs) + " and --max-steps " +
              std::to_string(common.max_steps) + ": give one of them");
  // A run folder that cannot be one is refused before any data is read or
  // fetched (RunDir, which checks it too, comes after the data); rank 0
  // alone writes it.
  if (launch_environment().rank == 0) require_writable_folder_path(common.out, "--out");
  if (common.nproc > 1 && !launch_environment().present) {
    DistributedOptions d;
    d.backend = common.backend;
    d.timeout = common.dist_timeout;
    d.init = common.dist_init;
    return launch_local_ranks(argv, static_cast<int>(common.nproc), d);
  }
  summary = train(explicit_values);
  return 0;
}

}  // namespace sparseloop
