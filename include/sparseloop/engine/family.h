// The model families, as the engine and the program see them. A family
// (families/<name>/family.h) describes itself once: its models, its presets,
// the flags of its configuration with their defaults, its trainer and its
// analyses. The program registers the built-in families
// (sparseloop/sparseloop.h); the engine then finds a family by model name or
// by run folder, and never includes a family itself (docs/architecture.md).
#pragma once

#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "sparseloop/engine/analysis.h"
#include "sparseloop/engine/config.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/error.h"

namespace sparseloop {

/// How a family's weights meet PyTorch (engine/interop.h, docs/pytorch.md);
/// every member may be empty.
struct FamilyInterop {
  /// The authors' PyTorch name of our tensor `ours` of `model`; "" for a
  /// tensor that is ours alone (not exported). Empty: our names, less the
  /// solver caches (a model with no published PyTorch code).
  std::function<std::string(const std::string& model, const std::string& ours)> authors_name;
  /// Tensors the authors' modules hold that ours derive, from our weights
  /// (e.g. SDNet's dn.step_size buffers), added to an export.
  std::function<std::vector<std::pair<std::string, torch::Tensor>>(const std::string& model,
                                                                   const TensorFile& ours)>
      derived;
  /// The dataset an imported `model` is most likely for, from its weights
  /// (used when `import` gets no --data).
  std::function<std::string(const std::string& model, const TensorFile& authors)> default_data;
  /// Writes a run folder for the resolved values from the authors' tensors
  /// (engine/interop.h import_run); image_size 0 = the family's default.
  std::function<nlohmann::json(const CommonTrainConfig&, const ConfigValues&,
                               const std::string& source, const TensorFile& authors,
                               int64_t image_size)>
      import_run;
};

struct Family {
  std::string name;   ///< "ctrl", "sdnet", "vdl": also the [section] of config.toml
  std::string title;  ///< "CSC-CTRL / CTRL", for help and errors
  std::vector<std::string> models;
  std::vector<Preset> presets;
  /// The flags of `sparseloop train` for this family, with its defaults.
  std::function<std::vector<FlagSpec>()> flags;
  /// The preset whose values stand in for the family's defaults when a run
  /// names none, for this model and dataset ("" for none): the family's
  /// defaults are tuned for one dataset, and a preset for the given one
  /// knows better (SDNet on MNIST runs as mnist-sdnet).
  std::function<std::string(const std::string& model, const std::string& data)> default_preset;
  /// Trains with the family's resolved flag values (InputError naming
  /// `source` and the key on a bad or unknown one); returns the summary.
  std::function<nlohmann::json(const CommonTrainConfig&, const ConfigValues&,
                               const std::string& source)>
      train;
  /// The analysis commands the family supports (empty: not applicable).
  FamilyAnalyses analyses;
  FamilyInterop interop;

  bool has_model(const std::string& model) const;
};

/// Adds a family to the registry (once per name; the program calls this for
/// the built-in families through register_builtin_families()).
void register_family(Family family);
/// Every registered family, in registration order.
const std::vector<Family>& families();
/// The family of `model`; InputError naming `flag` and every model otherwise.
const Family& family_of_model(const std::string& model, const std::string& flag = "--model");
/// Every model name of every family.
std::vector<std::string> model_names();
/// The model named in RUN_DIR/config.toml; InputError when the run is missing.
std::string model_of_run(const std::string& run_dir);

/// Every family's presets.
std::vector<Preset> presets();
/// The preset called `name`; InputError lists the valid names otherwise.
const Preset& find_preset(const std::string& name);

/// The family a `sparseloop train` invocation is for, from its explicit
/// values: --model, else the model of --preset, else those of the --config
/// file, else (with --resume) the run's config.toml. nullptr when none names one.
const Family* family_of_train(const ConfigValues& explicit_values);

/// The resolved values of a `sparseloop train` invocation and where they came from.
struct TrainValues {
  ConfigValues values;  ///< every key set (common and family flags)
  std::string source;   ///< for errors: the file the values came from, or "command line"
};

/// Resolves a `train` invocation. Precedence: explicit values > the --config
/// file (key `config`) > --preset > defaults, where a run that names no
/// preset takes its family's preset for the data (Family::default_preset).
/// With --resume and an existing RUN/config.toml, that file replaces the
/// config file and presets. A level that sets --epochs or --max-steps drops
/// both from the levels below it, so `--preset P --epochs 2` trains 2 epochs
/// even when P counts steps.
TrainValues resolve_train_values(const ConfigValues& explicit_values);

/// Resolves and trains (the family's trainer); returns its summary. In a
/// distributed run a failed collective (a rank that died or hangs) becomes
/// one error naming this rank and the steps the ranks reached.
nlohmann::json train(const ConfigValues& explicit_values);

/// `sparseloop train`: with --nproc N > 1 and no launcher around this process
/// (engine/distributed.h), starts N ranks of `argv` (the command line after
/// the program's name) and returns their exit code; otherwise trains here,
/// puts the summary into `summary` and returns 0.
int train_or_launch(const ConfigValues& explicit_values, const std::vector<std::string>& argv,
                    nlohmann::json& summary);

/// A family trainer for a config struct `Config` (one visit() listing its
/// fields) and `nlohmann::json train(const CommonTrainConfig&, const Config&)`.
template <class Config>
std::function<nlohmann::json(const CommonTrainConfig&, const ConfigValues&, const std::string&)>
family_trainer(std::string title,
               nlohmann::json (*trainer)(const CommonTrainConfig&, const Config&)) {
  return [title, trainer](const CommonTrainConfig& common, const ConfigValues& values,
                          const std::string& source) {
    Config c;
    ValuesReader r(values, source);
    c.visit(r);
    const auto unused = r.unused();
    if (!unused.empty()) {
      std::string keys;
      for (const auto& k : unused) keys += (keys.empty() ? "--" : ", --") + k;
      throw InputError(keys + ": not a flag of the " + title + " models (from " + source + ")");
    }
    return trainer(common, c);
  };
}

/// A family importer for a config struct `Config` and
/// `nlohmann::json import(const CommonTrainConfig&, const Config&, const TensorFile&, int64_t)`.
template <class Config>
std::function<nlohmann::json(const CommonTrainConfig&, const ConfigValues&, const std::string&,
                             const TensorFile&, int64_t)>
family_importer(nlohmann::json (*importer)(const CommonTrainConfig&, const Config&,
                                           const TensorFile&, int64_t)) {
  return [importer](const CommonTrainConfig& common, const ConfigValues& values,
                    const std::string& source, const TensorFile& authors, int64_t image_size) {
    Config c;
    ValuesReader r(values, source);
    c.visit(r);
    return importer(common, c, authors, image_size);
  };
}

/// The flags a config struct declares, with its defaults.
template <class Config>
std::function<std::vector<FlagSpec>()> family_flags() {
  return [] {
    Config c;
    SpecCollector s;
    c.visit(s);
    return s.specs;
  };
}

}  // namespace sparseloop
