#include "sparseloop/engine/interop.h"

#include <set>

#include <torch/csrc/jit/serialization/pickle.h>

#include "sparseloop/engine/family.h"
#include "sparseloop/engine/run.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/output_path.h"

namespace sparseloop {

namespace {

std::string last_component(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

std::string shape_text(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

}  // namespace

bool is_solver_cache(const std::string& name) {
  const std::string last = last_component(name);
  return last == "power_vector" || last == "lipschitz" || last == "lipschitz_dictionary";
}

nlohmann::json export_run(const ExportRequest& request) {
  require(request.format == "pytorch" || request.format == "safetensors",
          "--format '" + request.format + "': expected pytorch or safetensors");
  const std::string model = model_of_run(request.run);
  const Family& family = family_of_model(model);
  const bool pt = request.format == "pytorch";
  const std::string path =
      request.out.empty() ? request.run + (pt ? "/export.pt" : "/export.safetensors") : request.out;
  // Before the weights are read: an --out that is a folder failed as a
  // rename (exit 1) after the work.
  require_writable_file_path(path, "--out");
  const TensorFile ours = load_safetensors(checkpoint_weights(request.run, request.checkpoint));
  const bool authors = static_cast<bool>(family.interop.authors_name);

  std::vector<std::pair<std::string, torch::Tensor>> out;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : ours.tensors) {
    const std::string to = authors ? family.interop.authors_name(model, name)
                                   : (is_solver_cache(name) ? "" : name);
    if (to.empty()) continue;
    require(seen.insert(to).second, "internal: two tensors of " + model + " export as " + to);
    out.emplace_back(to, tensor.contiguous());
  }
  if (family.interop.derived)
    for (auto& [name, tensor] : family.interop.derived(model, ours)) {
      require(seen.insert(name).second, "internal: derived tensor " + name + " exported twice");
      out.emplace_back(name, tensor.contiguous());
    }

  if (pt) {
    // A c10::Dict pickles as a plain Python dict (insertion-ordered), which
    // torch.load returns and load_state_dict accepts.
    c10::Dict<std::string, at::Tensor> dict;
    for (const auto& [name, tensor] : out) dict.insert(name, tensor);
    const std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(dict));
    write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
  } else {
    // safetensors' own convention: "format": "pt" says the names are PyTorch's.
    save_safetensors(path, out, {{"format", "pt"}, {"model", model}});
  }
  return {{"out", path},
          {"format", request.format},
          {"model", model},
          {"tensors", out.size()},
          {"names", authors ? "authors" : "sparseloop"}};
}

void load_authors_tensors(torch::nn::Module& module, const TensorFile& file,
                          const std::function<std::string(const std::string&)>& authors_name,
                          const std::function<bool(const std::string&)>& ignored) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  auto fill = [&](const std::string& ours, torch::Tensor& target) {
    const std::string name = authors_name(ours);
    if (name.empty()) return;
    require(file.contains(name), file.source + ": no tensor '" + name + "' (our " + ours +
                                     "): is it a checkpoint of this model?");
    const torch::Tensor& t = file.get(name);
    require(t.sizes() == target.sizes(),
            file.source + ": tensor '" + name + "' has shape " + shape_text(t) + ", the model's " +
                ours + " needs " + shape_text(target));
    require(t.is_floating_point() == target.is_floating_point(),
            file.source + ": tensor '" + name + "' is " + std::string(c10::toString(t.scalar_type())) +
                ", the model's " + ours + " is " + std::string(c10::toString(target.scalar_type())));
    if (t.is_floating_point())
      require(torch::isfinite(t).all().item<bool>(),
              file.source + ": tensor '" + name + "' holds NaN or Inf");
    target.copy_(t);
    used.insert(name);
  };
  for (auto& p : module.named_parameters()) fill(p.key(), p.value());
  for (auto& b : module.named_buffers()) fill(b.key(), b.value());
  for (const auto& [name, tensor] : file.tensors) {
    (void)tensor;
    if (used.count(name) || (ignored && ignored(name))) continue;
    throw InputError(file.source + ": tensor '" + name +
                     "' has no place in the model: is it a checkpoint of another model?");
  }
}

nlohmann::json import_run(const ImportRequest& request) {
  require(!request.model.empty(), "--model is required");
  require(!request.out.empty(), "--out RUN_DIR is required");
  require(request.image_size >= 0, "--image-size must be >= 0");
  const Family& family = family_of_model(request.model);
  if (!family.interop.import_run)
    throw InputError("--model " + request.model + ": " + family.title +
                     " has no published PyTorch code to import weights from (export works)");
  require_writable_folder_path(request.out, "--out");
  const TensorFile authors = load_safetensors(request.from);
  require(!file_exists(request.out + "/model.safetensors") &&
              !file_exists(request.out + "/config.toml"),
          request.out + ": already holds a run; give another --out");

  ConfigValues explicit_values = {{"model", request.model}, {"out", request.out}};
  std::string data = request.data;
  if (data.empty() && family.interop.default_data)
    data = family.interop.default_data(request.model, authors);
  if (!data.empty()) explicit_values["data"] = data;
  if (!request.data_dir.empty()) explicit_values["data-dir"] = request.data_dir;
  if (!request.config.empty()) explicit_values["config"] = request.config;
  const TrainValues tv = resolve_train_values(explicit_values);
  CommonTrainConfig common;
  ValuesReader reader(tv.values, tv.source);
  common.visit(reader);
  nlohmann::json summary =
      family.interop.import_run(common, tv.values, tv.source, authors, request.image_size);
  summary["imported_from"] = request.from;
  summary["out"] = request.out;
  return summary;
}

}  // namespace sparseloop
