#include "sparseloop/engine/run.h"

#include <toml++/toml.h>

#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/engine/toml_text.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {

std::string checkpoint_weights(const std::string& run_dir, const std::string& checkpoint) {
  std::string path;
  if (checkpoint == "final") {
    path = run_dir + "/model.safetensors";
  } else if (checkpoint == "best" || checkpoint.rfind("step-", 0) == 0) {
    path = run_dir + "/checkpoints/" + checkpoint + "/model.safetensors";
    if (checkpoint == "best" && !file_exists(path) && file_exists(run_dir + "/model.safetensors"))
      path = run_dir + "/model.safetensors";
  } else {
    throw InputError("--checkpoint '" + checkpoint + "': expected best, final or step-XXXXXXXX");
  }
  require(file_exists(path), "--checkpoint " + checkpoint + ": " + path +
                                 " does not exist (best, final or a step-XXXXXXXX folder of " +
                                 run_dir + "/checkpoints)");
  return path;
}

RunFolder open_run(const std::string& run_dir, const std::string& checkpoint,
                   const std::string& family) {
  const std::string config = run_dir + "/config.toml";
  require(file_exists(config), "--run " + run_dir +
                                   ": not a sparseloop run (no config.toml); give the --out "
                                   "folder of a `sparseloop train`");
  RunFolder r;
  r.dir = run_dir;
  r.checkpoint = checkpoint;
  // The family is the config's [section]: checked before anything is built.
  const bool has_section = parse_toml_file(config).contains(family);
  ValuesReader common(read_config_file(config), config);
  r.common.visit(common);
  require(has_section, "--run " + run_dir + ": model " + r.common.model + " is not of the " +
                           family + " family (config.toml has no [" + family + "] section)");
  r.weights = checkpoint_weights(run_dir, checkpoint);
  const std::string info = run_dir + "/model_info.json";
  require(file_exists(info), info + ": missing; the run was written by an older sparseloop "
                                    "(train it again)");
  try {
    r.model_info = nlohmann::json::parse(read_file(info));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(info + ": damaged (" + std::string(e.what()) + ")");
  }
  require(r.model_info.is_object(), info + ": not a JSON object");
  return r;
}

int64_t model_info_int(const RunFolder& run, const std::string& key) {
  const auto it = run.model_info.find(key);
  require(it != run.model_info.end() && it->is_number_integer(),
          run.dir + "/model_info.json: no integer '" + key + "'");
  return it->get<int64_t>();
}

void load_run_model(const RunFolder& run, torch::nn::Module& model, torch::Device device) {
  load_weights(run.weights, model);
  model.to(device);
  model.eval();
}

void write_model_info(const RunDir& run, const nlohmann::json& info) {
  run.write_json("model_info.json", info);
}

}  // namespace sparseloop
