#include "sparseloop/families/sdnet/interop.h"

#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/engine/interop.h"
#include "sparseloop/engine/run.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/families/sdnet/model.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/strings.h"

namespace sparseloop {

namespace {

bool is_all(const std::string& model) { return ends_with(model, "-all"); }

std::string stem_name(const std::string& model) {
  return starts_with(model, "sdnet") ? "layer0.0.dn.weight" : "layer0.0.weight";
}

}  // namespace

std::string sdnet_authors_name(const std::string& model, const std::string& ours) {
  if (is_solver_cache(ours)) return "";
  const bool all = is_all(model);
  if (ours == "stem_conv.weight") return stem_name(model);
  if (starts_with(ours, "stem_bn.")) return "layer0.1." + ours.substr(8);
  if (ours == "stem_down.weight") return "layer0.2.dn.weight";
  if (starts_with(ours, "fc.")) return "linear." + ours.substr(3);
  if (starts_with(ours, "layer")) {
    // "layerS.i.rest": the -all models wrap each stage's blocks in `.layers`
    // (their _make_layer is a module) and each block conv in a DictConv2d (`.dn`).
    const auto d1 = ours.find('.');
    const auto d2 = ours.find('.', d1 + 1);
    if (d1 == std::string::npos || d2 == std::string::npos) return ours;
    const std::string stage = ours.substr(0, d1), block = ours.substr(d1 + 1, d2 - d1 - 1);
    std::string rest = ours.substr(d2 + 1);
    if (all && starts_with(rest, "conv") && ends_with(rest, ".weight"))
      rest = rest.substr(0, rest.size() - 7) + ".dn.weight";
    return stage + (all ? ".layers." : ".") + block + "." + rest;
  }
  return ours;
}

std::vector<std::pair<std::string, torch::Tensor>> sdnet_derived_tensors(const std::string& model,
                                                                         const TensorFile& ours) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, tensor] : ours.tensors) {
    if (!ends_with(name, ".lipschitz")) continue;
    const std::string layer = name.substr(0, name.size() - 10);
    const std::string weight = sdnet_authors_name(model, layer + ".weight");
    if (!ends_with(weight, ".dn.weight")) continue;
    const double L = tensor.item<double>();
    // 0.9/L is the authors' update_stepsize(); 0.1 their initial value (L unknown yet).
    const float step = L > 0 ? static_cast<float>(0.9 / L) : 0.1f;
    out.emplace_back(weight.substr(0, weight.size() - 6) + "step_size", torch::tensor(step));
  }
  return out;
}

std::string sdnet_default_data(const std::string& model, const TensorFile& authors) {
  const std::string stem = stem_name(model);
  if (!authors.contains(stem) || !authors.contains("linear.weight")) return "";
  const int64_t channels = authors.get(stem).size(1);
  const int64_t classes = authors.get("linear.weight").size(0);
  if (channels == 1) return "mnist";
  if (classes == 100) return "cifar100";
  if (classes == 1000) return "folder";
  return "cifar10";
}

nlohmann::json import_sdnet(const CommonTrainConfig& common, const SdnetConfig& config_in,
                            const TensorFile& authors, int64_t image_size) {
  const std::string& model_name = common.model;
  sdnet_options_for(model_name);
  const std::string stem = stem_name(model_name);
  require(authors.contains(stem),
          authors.source + ": no tensor '" + stem + "': not a " + model_name + " checkpoint" +
              (starts_with(model_name, "sdnet") ? " (a ResNet's stem is layer0.0.weight)"
                                                : " (an SDNet's stem is layer0.0.dn.weight)"));
  require(authors.contains("linear.weight"), authors.source + ": no tensor 'linear.weight'");
  const torch::Tensor& w = authors.get(stem);  // (width, channels, k, k)
  require(w.dim() == 4, authors.source + ": " + stem + " is not a 4-d convolution weight");
  SdnetConfig config = config_in;
  config.width = w.size(0);
  const int64_t channels = w.size(1);
  require(w.size(2) == 3 || w.size(2) == 7,
          authors.source + ": " + stem + " has " + std::to_string(w.size(2)) +
              "×" + std::to_string(w.size(3)) + " kernels; the CIFAR stem has 3×3, ImageNet's 7×7");
  config.stem = w.size(2) == 3 ? "cifar" : "imagenet";
  const std::string probe = std::string("layer2") + (is_all(model_name) ? ".layers" : "") +
                            ".0.shortcut.0.weight";
  config.no_shortcut = !authors.contains(probe);
  const int64_t classes = authors.get("linear.weight").size(0);
  if (image_size == 0) image_size = config.stem == "cifar" ? 32 : 224;

  // Every check before the folder is created: a refused file leaves nothing behind.
  Sdnet model = build_sdnet(model_name, config, channels, classes, image_size);
  load_authors_tensors(
      *model, authors, [&](const std::string& n) { return sdnet_authors_name(model_name, n); },
      [](const std::string& n) { return ends_with(n, ".dn.step_size"); });
  RunDir run(common.out, false);
  run.write_config(resolved_config_toml(common, "sdnet", config));
  write_model_info(run, {{"model", model_name},
                         {"channels", channels},
                         {"num_classes", classes},
                         {"image_size", image_size}});
  save_weights(run.file("model.safetensors"), *model, {{"model", model_name}, {"family", "sdnet"}});
  int64_t parameters = 0;
  for (const auto& p : model->parameters()) parameters += p.numel();
  nlohmann::json summary = {{"model", model_name},       {"imported", true},
                            {"parameters", parameters},  {"width", config.width},
                            {"stem", config.stem},       {"shortcut", !config.no_shortcut},
                            {"channels", channels},      {"num_classes", classes},
                            {"image_size", image_size}};
  run.write_json("summary.json", summary);
  return summary;
}

}  // namespace sparseloop
