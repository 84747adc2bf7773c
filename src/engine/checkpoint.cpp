#include "sparseloop/engine/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

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
  write_file_atomic(tmp + "/state.json", j.dump(2) + "\n");
  // Swap into place: the old copy is removed only once the new one is whole.
  const std::string target = dir + "/" + name;
  const std::string old = dir + "/.old-" + name + "-" + std::to_string(::getpid());
  if (fs::exists(target, ec)) fs::rename(target, old);
  fs::rename(tmp, target);
  fs::remove_all(old, ec);
}

TrainState load_checkpoint(const std::string& dir, const std::string& name,
                           const CheckpointParts& parts) {
  const std::string path = dir + "/" + name;
  require(fs::is_directory(path), path + ": no such checkpoint");
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
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path + "/state.json"));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + "/state.json: damaged (" + e.what() + ")");
  }
  TrainState s;
  s.step = j.value("step", int64_t(0));
  s.epoch = j.value("epoch", int64_t(0));
  s.batch = j.value("batch", int64_t(0));
  s.best_metric = j.value("best_metric", 0.0);
  s.best_step = j.value("best_step", int64_t(-1));
  s.extra = j.value("extra", nlohmann::json::object());
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
