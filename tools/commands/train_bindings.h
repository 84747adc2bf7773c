// How `sparseloop train` reaches each model family's trainer. A family's
// config struct lists its fields once (visit); its binding turns resolved
// flag values into that struct and calls the library trainer.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sstream>

#include "sparseloop/util/error.h"

#include "sparseloop/train/config.h"
#include "sparseloop/train/families.h"

namespace sparseloop::cli {

/// One flag as a family's config declares it.
struct FlagSpec {
  std::string key, help, default_text;
  std::string type_name = "TEXT";
  bool is_bool = false;
};

/// Collects FlagSpecs from a config's visit().
class SpecCollector {
 public:
  template <class T>
  void operator()(const std::string& key, const T& value, const std::string& help) {
    FlagSpec s;
    s.key = key;
    s.help = help;
    if constexpr (std::is_same_v<T, bool>) {
      s.is_bool = true;
      s.default_text = value ? "true" : "false";
    } else if constexpr (std::is_same_v<T, std::string>) {
      s.default_text = value;
    } else if constexpr (std::is_floating_point_v<T>) {
      s.type_name = "FLOAT";
      std::ostringstream o;
      o << value;
      s.default_text = o.str();
    } else {
      s.type_name = "INT";
      std::ostringstream o;
      o << value;
      s.default_text = o.str();
    }
    specs.push_back(s);
  }
  std::vector<FlagSpec> specs;
};

struct FamilyBinding {
  ModelFamily family;
  std::string title;  ///< option group in --help
  std::function<std::vector<FlagSpec>()> flags;
  /// Reads the family config from `values` (InputError naming `source` on a
  /// bad value) and trains; returns the final summary.
  std::function<nlohmann::json(const CommonTrainConfig&, const ConfigValues&, const std::string&,
                               std::vector<std::string>& unused)>
      train;
};

/// Binding for a family whose config type is Config and trainer is
/// nlohmann::json train(const CommonTrainConfig&, const Config&).
template <ModelFamily Family, class Config>
FamilyBinding make_binding(std::string title,
                           nlohmann::json (*trainer)(const CommonTrainConfig&, const Config&)) {
  FamilyBinding b;
  b.family = Family;
  b.title = std::move(title);
  b.flags = [] {
    Config c;
    SpecCollector s;
    c.visit(s);
    return s.specs;
  };
  b.train = [trainer](const CommonTrainConfig& common, const ConfigValues& values,
                      const std::string& source, std::vector<std::string>& unused) {
    Config c;
    ValuesReader r(values, source);
    c.visit(r);
    unused = r.unused();
    if (!unused.empty()) {
      std::string keys;
      for (const auto& k : unused) keys += (keys.empty() ? "--" : ", --") + k;
      throw InputError(keys + ": not a flag of the " + std::string(family_title(Family)) +
                       " models (from " + source + ")");
    }
    return trainer(common, c);
  };
  return b;
}

/// All families' bindings (tools/commands/train.cpp).
std::vector<FamilyBinding> family_bindings();

}  // namespace sparseloop::cli
