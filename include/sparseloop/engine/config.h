// Training configuration as plain structs with one `visit` method that lists
// every field once (name, reference, help). From that single list:
//   - the CLI registers one flag per field (tools/commands/train.cpp),
//   - a run's resolved configuration is written to RUN_DIR/config.toml,
//   - `eval` & co. read it back to rebuild the model.
// Precedence of values: command-line flags > --config file > --preset > defaults.
#pragma once

#include <cstdint>
#include <map>
#include <sstream>
#include <type_traits>
#include <string>
#include <vector>

#include "sparseloop/util/error.h"
#include "sparseloop/util/precision.h"

namespace sparseloop {

/// Flags every `sparseloop train` run has (docs/cli.md §4.2).
struct CommonTrainConfig {
  std::string model;              ///< csc-ctrl, ctrl, sdnet18, …, vdl
  std::string data = "mnist";     ///< mnist, cifar10, cifar100, stl10, folder, patches
  std::string data_dir;           ///< empty: embedded data where it exists
  std::string preset;             ///< a named hyperparameter set
  std::string out;                ///< RUN_DIR
  int64_t epochs = 0;             ///< 0: use max_steps or the preset's
  int64_t max_steps = 0;          ///< 0: use epochs
  int64_t batch_size = 0;         ///< 0: the model's default
  bool resume = false;
  std::string device = "auto";
  uint64_t seed = 0;
  int64_t threads = 0;
  Precision precision = Precision::kFp32;  ///< products in fp32 or bf16 (util/precision.h)
  int64_t log_every = 10;         ///< steps between metrics.jsonl lines
  int64_t eval_every = 0;         ///< steps between validations (0: each epoch)
  int64_t checkpoint_every = 0;   ///< steps between checkpoints (0: each validation)
  int64_t keep_checkpoints = 2;   ///< newest checkpoints kept (plus the best)
  double time_limit = 0;          ///< seconds of training, then stop cleanly (0: none)
  // Data-parallel training (engine/distributed.h).
  int64_t nproc = 1;              ///< local ranks to start (the launcher's environment wins)
  std::string backend = "auto";   ///< gloo | nccl | auto
  double dist_timeout = 300;      ///< seconds a rank waits for the others
  std::string dist_init;          ///< "" (MASTER_ADDR/PORT) or file:///shared/path

  template <class V>
  void visit(V& v) {
    v("model", model, "model: csc-ctrl ctrl sdnet18 sdnet34 sdnet18-all sdnet34-all resnet18 "
                      "resnet34 sdl vdl sdl-nl vdl-nl");
    v("data", data, "dataset: mnist cifar10 cifar100 stl10 folder patches");
    v("data-dir", data_dir, "dataset folder (mnist without it: the embedded digits)");
    v("preset", preset, "hyperparameter preset from the papers (see --list-presets)");
    v("out", out, "run folder (config, metrics, checkpoints, figures)");
    v("epochs", epochs, "epochs to train (0: use --max-steps or the preset)");
    v("max-steps", max_steps, "optimizer steps to train (0: use --epochs)");
    v("batch-size", batch_size, "batch size (0: the preset's)");
    v("resume", resume, "continue from the newest checkpoint in --out");
    v("device", device, "cpu | cuda | auto");
    v("seed", seed, "random seed");
    v("threads", threads, "CPU threads (0: all cores)");
    v("precision", precision,
      "fp32 | bf16: bf16 rounds the operands of every convolution and dense product to "
      "bfloat16 and keeps fp32 results, iterates and optimizer state (fast on GPUs and on CPUs "
      "with AVX-512-BF16 or AMX)");
    v("log-every", log_every, "steps between lines of metrics.jsonl");
    v("eval-every", eval_every, "steps between validations (0: once per epoch)");
    v("checkpoint-every", checkpoint_every, "steps between checkpoints (0: at each validation)");
    v("keep-checkpoints", keep_checkpoints, "newest checkpoints to keep (the best is kept too)");
    v("time-limit", time_limit, "stop cleanly after this many seconds of training (0: none)");
    v("nproc", nproc,
      "train on this many local processes (c10d; --batch-size stays the global batch); under "
      "torchrun or SLURM the launcher's RANK/WORLD_SIZE decide");
    v("backend", backend, "collectives: gloo (CPU) | nccl (CUDA) | auto");
    v("dist-timeout", dist_timeout,
      "seconds a rank waits for the others before the run stops (a dead or hung rank)");
    v("dist-init", dist_init,
      "rendezvous through file:///path on a file system every rank sees (default: "
      "MASTER_ADDR/MASTER_PORT)");
  }
};

/// A bool flag whose meaning is the opposite of the field it sets, e.g.
/// `v("csc-signed", Negated{csc.nonnegative()}, …)`: a family may name a
/// shared field from its own side without declaring a second copy of it.
struct Negated {
  bool& value;
};

/// Enum fields travel as text: the enum's namespace provides
/// `const char* to_string(E)` and `void from_string(const std::string&, E&,
/// const std::string& flag)` (which throws InputError naming `flag`).
template <class E>
inline constexpr bool is_enum_flag_v = std::is_enum_v<E>;

/// A flat key → value-as-text map, the common currency of presets, config
/// files and the saved config.toml.
using ConfigValues = std::map<std::string, std::string>;

/// Writes fields to TOML text (one `key = value` line each, with the help as
/// a comment). Use: `TomlWriter w; cfg.visit(w); w.str()`.
class TomlWriter {
 public:
  void operator()(const std::string& key, const std::string& value, const std::string& help);
  void operator()(const std::string& key, const double& value, const std::string& help);
  void operator()(const std::string& key, const int64_t& value, const std::string& help);
  void operator()(const std::string& key, const uint64_t& value, const std::string& help);
  void operator()(const std::string& key, const bool& value, const std::string& help);
  void operator()(const std::string& key, Negated value, const std::string& help) {
    (*this)(key, !value.value, help);
  }
  template <class E, std::enable_if_t<is_enum_flag_v<E>, int> = 0>
  void operator()(const std::string& key, const E& value, const std::string& help) {
    (*this)(key, std::string(to_string(value)), help);
  }
  /// Starts a `[section]` (a model family's own fields).
  void section(const std::string& name);
  std::string str() const { return out_; }

 private:
  std::string out_;
};

/// Assigns fields from parsed values; errors name `source` and the key.
/// Keys absent from `values` keep their current value. Use:
/// `ValuesReader r(values, "run/config.toml"); cfg.visit(r); r.finish();`
class ValuesReader {
 public:
  ValuesReader(ConfigValues values, std::string source);
  void operator()(const std::string& key, std::string& value, const std::string& help);
  void operator()(const std::string& key, double& value, const std::string& help);
  void operator()(const std::string& key, int64_t& value, const std::string& help);
  void operator()(const std::string& key, uint64_t& value, const std::string& help);
  void operator()(const std::string& key, bool& value, const std::string& help);
  void operator()(const std::string& key, Negated value, const std::string& help) {
    bool b = !value.value;
    (*this)(key, b, help);
    value.value = !b;
  }
  template <class E, std::enable_if_t<is_enum_flag_v<E>, int> = 0>
  void operator()(const std::string& key, E& value, const std::string& help) {
    std::string text = to_string(value);
    (*this)(key, text, help);
    try {
      from_string(text, value, "--" + key);
    } catch (const InputError& e) {
      throw InputError(source_ + ": " + e.what());
    }
  }
  /// Keys that no visited field consumed.
  std::vector<std::string> unused() const;

 private:
  const std::string* find(const std::string& key);
  ConfigValues values_;
  std::map<std::string, bool> used_;
  std::string source_;
};

/// One flag as a config's visit() declares it (for `--help` and parsing).
struct FlagSpec {
  std::string key, help, default_text;
  std::string type_name = "TEXT";
  bool is_bool = false;
};

/// Collects FlagSpecs from a config's visit(): `SpecCollector s; cfg.visit(s);`.
class SpecCollector {
 public:
  void operator()(const std::string& key, Negated value, const std::string& help) {
    (*this)(key, !value.value, help);
  }
  template <class T>
  void operator()(const std::string& key, const T& value, const std::string& help) {
    FlagSpec s;
    s.key = key;
    s.help = help;
    if constexpr (is_enum_flag_v<T>) {
      s.default_text = to_string(value);
    } else if constexpr (std::is_same_v<T, bool>) {
      s.is_bool = true;
      s.default_text = value ? "true" : "false";
    } else if constexpr (std::is_same_v<T, std::string>) {
      s.default_text = value;
    } else {
      s.type_name = std::is_floating_point_v<T> ? "FLOAT" : "INT";
      std::ostringstream o;
      o << value;
      s.default_text = o.str();
    }
    specs.push_back(s);
  }
  std::vector<FlagSpec> specs;
};

/// Reads a flat TOML file (top-level keys and one level of [sections], whose
/// keys are merged) into values; InputError names the file and line.
ConfigValues read_config_file(const std::string& path);

/// InputError naming the first flag of `c` outside its range (counts below
/// 0, --keep-checkpoints below 1, a negative or non-finite time).
void check_common_ranges(const CommonTrainConfig& c);

/// The resolved configuration of a run as TOML: the common fields, then the
/// family's in a [section]. Written to RUN_DIR/config.toml by every trainer.
template <class Config>
std::string resolved_config_toml(CommonTrainConfig common, const std::string& section,
                                 Config config) {
  TomlWriter w;
  common.visit(w);
  w.section(section);
  config.visit(w);
  return w.str();
}

/// Reads RUN_DIR/config.toml back into the structs (analysis commands).
template <class Config>
void read_run_config(const std::string& run_dir, CommonTrainConfig& common, Config& config) {
  const std::string path = run_dir + "/config.toml";
  ValuesReader r(read_config_file(path), path);
  common.visit(r);
  config.visit(r);
}

/// A named hyperparameter set from a paper (docs/cli.md §4.5; values: docs/design.md §9).
struct Preset {
  std::string name;         ///< e.g. "mnist-csc-ctrl"
  std::string model;        ///< the model it is for (may be empty: any)
  std::string description;  ///< one line, with the paper and table it comes from
  ConfigValues values;      ///< flag name (without dashes) → value
};

}  // namespace sparseloop
