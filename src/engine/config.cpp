#include "sparseloop/engine/config.h"

#include <cmath>
#include <sstream>

#include <toml++/toml.h>

#include "sparseloop/engine/toml_text.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace {

// A TOML basic string written by toml++'s own formatter: it escapes what TOML
// forbids raw in a string (every control character, \r and tab included, and
// DEL; TOML v1.0.0 §String), where a hand-made quoter once let \r through and
// the run's config.toml then failed to parse on --resume. No flags: always
// one "…" line (no literal or multi-line form, whose rules about quotes and a
// leading newline are easy to break), UTF-8 kept as is.
std::string quote(const std::string& s, const std::string& key) {
  std::ostringstream out;
  out << toml::toml_formatter{toml::value<std::string>{s},
                              toml::format_flags::allow_unicode_strings};
  // TOML holds UTF-8 text only: bytes that are not (a path from another
  // encoding) would come back changed, so refuse them here, not at --resume.
  const std::string text = out.str();
  bool same = false;
  try {
    toml::table back = parse_toml("v = " + text, "--" + key);
    const auto* read = back["v"].as_string();
    same = read && toml_text_as_written(read->get()) == s;
  } catch (const InputError&) {
  }
  if (!same)
    throw InputError("--" + key + ": the value is not valid UTF-8 text, which config.toml "
                     "(TOML) cannot hold; give it in UTF-8");
  return text;
}

std::string format_double(double v) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "nan");
  std::ostringstream s;
  s.precision(17);
  s << v;
  std::string t = s.str();
  if (t.find_first_of(".eE") == std::string::npos) t += ".0";
  return t;
}

std::string node_to_text(const toml::node& node, const std::string& key, const std::string& file) {
  if (auto v = node.as_string()) return v->get();
  if (auto v = node.as_integer()) return std::to_string(v->get());
  if (auto v = node.as_floating_point()) return format_double(v->get());
  if (auto v = node.as_boolean()) return v->get() ? "true" : "false";
  if (auto arr = node.as_array()) {
    std::string out;
    for (const auto& el : *arr) out += (out.empty() ? "" : ",") + node_to_text(el, key, file);
    return out;
  }
  throw InputError(file + ": key '" + key + "' must be a string, number, boolean or array");
}

}  // namespace

void TomlWriter::operator()(const std::string& key, const std::string& value,
                            const std::string& help) {
  out_ += "# " + help + "\n" + key + " = " + quote(value, key) + "\n";
}
void TomlWriter::operator()(const std::string& key, const double& value, const std::string& help) {
  out_ += "# " + help + "\n" + key + " = " + format_double(value) + "\n";
}
void TomlWriter::operator()(const std::string& key, const int64_t& value,
                            const std::string& help) {
  out_ += "# " + help + "\n" + key + " = " + std::to_string(value) + "\n";
}
void TomlWriter::operator()(const std::string& key, const uint64_t& value,
                            const std::string& help) {
  // TOML integers are signed 64-bit: larger values travel as strings.
  const std::string text = std::to_string(value);
  out_ += "# " + help + "\n" + key + " = " +
          (value > static_cast<uint64_t>(INT64_MAX) ? quote(text, key) : text) + "\n";
}
void TomlWriter::operator()(const std::string& key, const bool& value, const std::string& help) {
  out_ += "# " + help + "\n" + key + " = " + (value ? "true" : "false") + "\n";
}
void TomlWriter::section(const std::string& name) { out_ += "\n[" + name + "]\n"; }

ValuesReader::ValuesReader(ConfigValues values, std::string source)
    : values_(std::move(values)), source_(std::move(source)) {}

const std::string* ValuesReader::find(const std::string& key) {
  auto it = values_.find(key);
  if (it == values_.end()) return nullptr;
  used_[key] = true;
  return &it->second;
}

void ValuesReader::operator()(const std::string& key, std::string& value, const std::string&) {
  if (auto s = find(key)) value = *s;
}

namespace {

/// The value as the user gave it, for messages: `--key 'v'` on the command
/// line (the flag they typed), `FILE: key = 'v'` from a file.
std::string given(const std::string& source, const std::string& key, const std::string& value) {
  if (source == "command line") return "--" + key + " '" + value + "'";
  return source + ": " + key + " = '" + value + "'";
}

}  // namespace

void ValuesReader::operator()(const std::string& key, double& value, const std::string&) {
  auto s = find(key);
  if (!s) return;
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(*s, &used);
    if (used != s->size()) throw std::invalid_argument(*s);
  } catch (const std::exception&) {
    throw InputError(given(source_, key, *s) + ": not a number");
  }
  // No flag means anything by inf or nan: taken as given, they once reached
  // the solvers (an infinite --lr or --gamma diverged at step 1, exit 1; an
  // infinite weight decay trained on silently).
  if (!std::isfinite(v)) throw InputError(given(source_, key, *s) + ": not a finite number");
  value = v;
}

void ValuesReader::operator()(const std::string& key, int64_t& value, const std::string&) {
  auto s = find(key);
  if (!s) return;
  try {
    size_t used = 0;
    long long v = std::stoll(*s, &used);
    if (used != s->size()) throw std::invalid_argument(*s);
    value = v;
  } catch (const std::exception&) {
    throw InputError(given(source_, key, *s) + ": not an integer");
  }
}

void ValuesReader::operator()(const std::string& key, uint64_t& value, const std::string&) {
  auto s = find(key);
  if (!s) return;
  try {
    size_t used = 0;
    if (!s->empty() && (*s)[0] == '-') throw std::invalid_argument(*s);
    unsigned long long v = std::stoull(*s, &used);
    if (used != s->size()) throw std::invalid_argument(*s);
    value = v;
  } catch (const std::exception&) {
    throw InputError(given(source_, key, *s) + ": not a non-negative integer");
  }
}

void ValuesReader::operator()(const std::string& key, bool& value, const std::string&) {
  auto s = find(key);
  if (!s) return;
  if (*s == "true" || *s == "1" || *s == "yes" || *s == "on") {
    value = true;
  } else if (*s == "false" || *s == "0" || *s == "no" || *s == "off") {
    value = false;
  } else {
    throw InputError(given(source_, key, *s) + ": not true or false");
  }
}

std::vector<std::string> ValuesReader::unused() const {
  std::vector<std::string> out;
  for (const auto& kv : values_)
    if (!used_.count(kv.first)) out.push_back(kv.first);
  return out;
}

void check_common_ranges(const CommonTrainConfig& c) {
  // Negative counts once fell through to a meaning of 0 ("all cores",
  // "never") or to nonsense (a run that keeps no checkpoint), silently.
  auto at_least = [](const char* flag, int64_t v, int64_t min, const char* meaning) {
    require(v >= min, std::string("--") + flag + " " + std::to_string(v) + ": must be >= " +
                          std::to_string(min) + meaning);
  };
  at_least("epochs", c.epochs, 0, " (0: use --max-steps)");
  at_least("max-steps", c.max_steps, 0, " (0: use --epochs)");
  at_least("batch-size", c.batch_size, 0, " (0: the preset's)");
  at_least("threads", c.threads, 0, " (0: all cores)");
  at_least("log-every", c.log_every, 0, " (0: no training records)");
  at_least("eval-every", c.eval_every, 0, " (0: once per epoch)");
  at_least("checkpoint-every", c.checkpoint_every, 0, " (0: at each validation)");
  at_least("keep-checkpoints", c.keep_checkpoints, 1, "");
  require(std::isfinite(c.time_limit) && c.time_limit >= 0,
          "--time-limit " + format_double(c.time_limit) + ": must be >= 0 seconds (0: none)");
  require(std::isfinite(c.dist_timeout) && c.dist_timeout > 0,
          "--dist-timeout " + format_double(c.dist_timeout) + ": must be > 0 seconds");
}

ConfigValues read_config_file(const std::string& path) {
  // toml++ through its guard (engine/toml_text.h): keys and strings come
  // back with the guard's stand-ins moved back.
  const toml::table table = parse_toml_file(path);
  ConfigValues values;
  auto add = [&](const std::string& key, const toml::node& node) {
    const std::string written = toml_text_as_written(key);
    std::string flag = written;
    for (auto& c : flag)
      if (c == '_') c = '-';
    values[flag] = toml_text_as_written(node_to_text(node, written, path));
  };
  for (const auto& [k, node] : table) {
    if (auto sub = node.as_table()) {
      for (const auto& [k2, node2] : *sub) {
        if (node2.is_table())
          throw InputError(path + ": tables nested deeper than one [section] are not supported");
        add(std::string(k2.str()), node2);
      }
    } else {
      add(std::string(k.str()), node);
    }
  }
  return values;
}

}  // namespace sparseloop
