#include "sparseloop/families/vdl/interop.h"

#include <cmath>

#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/engine/interop.h"
#include "sparseloop/engine/run.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/families/vdl/model.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/strings.h"

namespace sparseloop {

namespace {

int64_t square_side(int64_t n) {
  const auto s = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return s > 0 && s * s == n ? s : 0;
}

}  // namespace

std::string vdl_authors_name(const std::string& /*model*/, const std::string& ours) {
  if (ours == "decoder.linear.weight") return "decoder.decoder.weight";
  if (starts_with(ours, "encoder.U.")) return "encoder.W." + ours.substr(10);
  return ours;
}

nlohmann::json import_vdl(const CommonTrainConfig& common, const VdlConfig& config_in,
                          const TensorFile& authors, int64_t image_size) {
  const std::string& model_name = common.model;
  const bool nonlinear = model_name.size() > 3 && model_name.substr(model_name.size() - 3) == "-nl";
  auto need = [&](const std::string& name) -> const torch::Tensor& {
    require(authors.contains(name),
            authors.source + ": no tensor '" + name + "' for " + model_name +
                " (convert with tools/torch2safetensors.py ENC.pth:encoder DEC.pth:decoder)");
    const torch::Tensor& t = authors.get(name);
    require(t.dim() == 2, authors.source + ": '" + name + "' is not a matrix");
    return t;
  };
  VdlConfig config = config_in;
  int64_t input_dim = 0;
  if (nonlinear) {
    const torch::Tensor& w1 = need("decoder.layer1.weight");  // (hidden, l)
    const torch::Tensor& w2 = need("decoder.layer2.weight");  // (d, hidden)
    config.hidden_dim = w1.size(0);
    config.code_dim = w1.size(1);
    input_dim = w2.size(0);
  } else {
    const torch::Tensor& w = need("decoder.decoder.weight");  // (d, l)
    config.code_dim = w.size(1);
    input_dim = w.size(0);
  }
  need("encoder.W.weight");

  int64_t channels = 0, side = 0;
  if (image_size > 0) {
    side = image_size;
    require(input_dim % (side * side) == 0,
            "--image-size " + std::to_string(side) + ": the decoder's " + std::to_string(input_dim) +
                " outputs are not a whole number of " + std::to_string(side) + "² channels");
    channels = input_dim / (side * side);
  } else if ((side = square_side(input_dim)) > 0) {
    channels = 1;
  } else if (input_dim % 3 == 0 && (side = square_side(input_dim / 3)) > 0) {
    channels = 3;
  } else {
    throw InputError(authors.source + ": " + std::to_string(input_dim) +
                     " outputs are not a square image of 1 or 3 channels; give --image-size");
  }

  // Every check before the folder is created: a refused file leaves nothing behind.
  VdlModel model = make_vdl_model(model_name, config, input_dim);
  load_authors_tensors(*model, authors,
                       [&](const std::string& n) { return vdl_authors_name(model_name, n); });
  RunDir run(common.out, false);
  run.write_config(resolved_config_toml(common, "vdl", config));
  write_model_info(run, {{"model", model_name},
                         {"input_dim", input_dim},
                         {"channels", channels},
                         {"height", side},
                         {"width", side}});
  save_weights(run.file("model.safetensors"), *model,
               {{"model", model_name},
                {"image_shape", std::to_string(channels) + "," + std::to_string(side) + "," +
                                    std::to_string(side)}});
  nlohmann::json summary = {{"model", model_name},         {"imported", true},
                            {"code_dim", config.code_dim}, {"hidden_dim", nonlinear ? config.hidden_dim : 0},
                            {"input_dim", input_dim},      {"channels", channels},
                            {"height", side},              {"width", side}};
  run.write_json("summary.json", summary);
  return summary;
}

}  // namespace sparseloop
