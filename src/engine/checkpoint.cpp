#include "sparseloop/engine/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace fs = std::filesystem;

namespace {

std::vector<std::pair<std::string, torch::Tensor>> module_tensors(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

void assign(torch::Tensor& target, const torch::Tensor& value, const std::string& name,
            const std::string& source, bool allow_resize) {
  torch::NoGradGuard no_grad;
  if (target.sizes() != value.sizes()) {
    if (!allow_resize) {
      std::ostringstream s;
      s << source << ": tensor '" << name << "' has shape " << value.sizes()
        << " but the model expects " << target.sizes()
        << " (the run's configuration and weights do not match)";
      throw InputError(s.str());
    }
    target.resize_(value.sizes());
  }
  target.copy_(value);
}

std::string serialize_optimizer(torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive archive;
  opt.save(archive);
  std::ostringstream s;
  archive.save_to(s);
  return s.str();
}

}  // namespace

void save_weights(const std::string& path, const torch::nn::Module& model,
                  const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module_tensors(model), metadata);
}

void load_weights(const std::string& path, torch::nn::Module& model) {
  auto file = load_safetensors(path);
  for (auto& p : model.named_parameters()) {
    if (!file.contains(p.key()))
      throw InputError(path + ": missing tensor '" + p.key() + "' for this model");
    assign(p.value(), file.get(p.key()), p.key(), path, false);
  }
  for (auto& b : model.named_buffers()) {
    if (!file.contains(b.key()))
      throw InputError(path + ": missing buffer '" + b.key() + "' for this model");
    assign(b.value(), file.get(b.key()), b.key(), path, true);
  }
}

void save_checkpoint(const std::string& dir, const std::string& name, const CheckpointParts& parts,
                     const TrainState& state) {
  make_dirs(dir);
  const std::string tmp = dir + "/.tmp-" + name + "-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  make_dirs(tmp);
  try {
    auto tensors = module_tensors(*parts.model);
    for (const auto& [n, t] : parts.tensors) tensors.emplace_back("extra." + n, *t);
    // The CPU RNG state, so that anything drawn from the global generator
    // continues identically after --resume.
    tensors.emplace_back("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
    write_file_atomic(tmp + "/model.safetensors", serialize_safetensors(tensors));
    for (size_t i = 0; i < parts.optimizers.size(); ++i)
      write_file_atomic(tmp + "/optimizer-" + std::to_string(i) + ".pt",
                        serialize_optimizer(*parts.optimizers[i]));
    nlohmann::json j = {{"step", state.step},           {"epoch", state.epoch},
                        {"batch", state.batch},         {"best_metric", state.best_metric},
                        {"best_step", state.best_step}, {"extra", state.extra}};
    // Only when recorded: NaN would be written as null.
    if (std::isfinite(state.top_metric)) j["top_metric"] = state.top_metric;
    if (std::isfinite(state.best_tie)) j["best_tie"] = state.best_tie;
    write_file_atomic(tmp + "/state.json", j.dump(2) + "\n");
  } catch (const std::exception& e) {
    // A full disk or a write error: the previous checkpoint stays as it was,
    // and no half-written folder is left beside it. The message names the
    // checkpoint and the file that failed (a path inside tmp).
    fs::remove_all(tmp, ec);
    const std::string what = "checkpoint " + dir + "/" + name + " not written: " + e.what() +
                             "; the previous checkpoints are intact";
    if (dynamic_cast<const InputError*>(&e)) throw InputError(what);
    throw std::runtime_error(what);
  }
  // Swap into place. Where the file system can (Linux renameat2), the old
  // and the new folder trade names in one step, so that `best` exists at
  // every moment, even for a SIGKILL between two renames; otherwise the old
  // copy moves aside first and recover_checkpoints() puts it back if the
  // process dies before the new one is in place.
  const std::string target = dir + "/" + name;
  if (fs::exists(target, ec)) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(tmp, ec);  // now the old checkpoint
      return;
    }
    const std::string old = dir + "/.old-" + name + "-" + std::to_string(::getpid());
    fs::rename(target, old);
    fs::rename(tmp, target);
    fs::remove_all(old, ec);
    return;
  }
  fs::rename(tmp, target);
}

void recover_checkpoints(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(dir, ec)) entries.push_back(e.path());
  for (const auto& p : entries) {
    const std::string n = p.filename().string();
    if (n.rfind(".tmp-", 0) == 0) {
      fs::remove_all(p, ec);  // never finished: the checkpoint it was to be does not exist
    } else if (n.rfind(".old-", 0) == 0) {
      // ".old-<name>-<pid>": moved aside by a writer that died before the new
      // copy took its name; the old copy is the checkpoint.
      const std::string name = n.substr(5, n.rfind('-') - 5);
      if (!name.empty() && !fs::exists(dir + "/" + name, ec))
        fs::rename(p, dir + "/" + name, ec);
      else
        fs::remove_all(p, ec);
    }
  }
}

TrainState load_checkpoint(const std::string& dir, const std::string& name,
                           const CheckpointParts& parts) {
  const std::string path = dir + "/" + name;
  require(fs::is_directory(path), path + ": no such checkpoint");
  // The small file first: a damaged checkpoint is refused before any of the
  // model is overwritten.
  TrainState state = parse_train_state(read_file(path + "/state.json"), path + "/state.json");
  auto file = load_safetensors(path + "/model.safetensors");
  for (auto& p : parts.model->named_parameters()) {
    if (!file.contains(p.key()))
      throw InputError(path + "/model.safetensors: missing tensor '" + p.key() + "'");
    assign(p.value(), file.get(p.key()), p.key(), path, false);
  }
  for (auto& b : parts.model->named_buffers()) {
    if (!file.contains(b.key()))
      throw InputError(path + "/model.safetensors: missing buffer '" + b.key() + "'");
    assign(b.value(), file.get(b.key()), b.key(), path, true);
  }
  for (const auto& [n, t] : parts.tensors) {
    if (!file.contains("extra." + n))
      throw InputError(path + "/model.safetensors: missing tensor 'extra." + n + "'");
    if (!t->defined()) *t = torch::empty_like(file.get("extra." + n));
    assign(*t, file.get("extra." + n), n, path, true);
  }
  if (file.contains("rng.cpu")) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(file.get("rng.cpu"));
  }
  for (size_t i = 0; i < parts.optimizers.size(); ++i) {
    const std::string opt_path = path + "/optimizer-" + std::to_string(i) + ".pt";
    const std::string bytes = read_file(opt_path);
    try {
      torch::serialize::InputArchive archive;
      std::istringstream in(bytes);
      archive.load_from(in);
      parts.optimizers[i]->load(archive);
    } catch (const c10::Error& e) {
      throw InputError(opt_path + ": damaged optimizer state (" +
                       std::string(e.what_without_backtrace()).substr(0, 120) + ")");
    }
  }
  return state;
}

TrainState parse_train_state(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source + ": damaged (" + e.what() + ")");
  }
  require(j.is_object(), source + ": damaged (not a JSON object)");
  // Typed reads by hand: json::value() throws a type_error (not an input
  // error) for {"step": "7"}, and get<int64_t>() silently truncates 7.5.
  TrainState s;
  auto integer = [&](const char* key, int64_t& out, int64_t min) {
    if (!j.contains(key)) return;
    const auto& v = j[key];
    require(v.is_number_integer() &&
                !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) &&
                v.get<int64_t>() >= min,
            source + ": damaged ('" + key + "' is " + v.dump().substr(0, 40) +
                ", expected an integer >= " + std::to_string(min) + ")");
    out = v.get<int64_t>();
  };
  integer("step", s.step, 0);
  integer("epoch", s.epoch, 0);
  integer("batch", s.batch, 0);
  integer("best_step", s.best_step, -1);
  // A non-finite value (never recorded: only finite ones are) would be
  // written as null.
  auto number = [&](const char* key, double& out) {
    if (!j.contains(key)) return;
    const auto& v = j[key];
    require(v.is_number() || v.is_null(), source + ": damaged ('" + key + "' is " +
                                              v.dump().substr(0, 40) + ", expected a number)");
    if (v.is_number()) out = v.get<double>();
  };
  number("best_metric", s.best_metric);
  number("top_metric", s.top_metric);
  number("best_tie", s.best_tie);
  if (j.contains("extra")) {
    require(j["extra"].is_object(), source + ": damaged ('extra' is not an object)");
    s.extra = j["extra"];
  }
  return s;
}

std::string latest_checkpoint(const std::string& dir) {
  std::string best;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return best;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("step-", 0) == 0 && e.is_directory() && fs::exists(e.path() / "state.json") &&
        n > best)
      best = n;
  }
  return best;
}

std::vector<std::string> step_checkpoints(const std::string& dir) {
  std::vector<std::string> steps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("step-", 0) == 0 && e.is_directory(ec)) steps.push_back(n);
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

void prune_checkpoints(const std::string& dir, int64_t keep) {
  std::vector<std::string> steps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("step-", 0) == 0) steps.push_back(n);
  }
  std::sort(steps.begin(), steps.end());
  for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(keep, 1)) < steps.size(); ++i)
    fs::remove_all(dir + "/" + steps[i], ec);
}

}  // namespace sparseloop
