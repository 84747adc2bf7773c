#include "sparseloop/train/families.h"

#include "sparseloop/train/config.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {
      "csc-ctrl", "ctrl",     "sdnet18", "sdnet34", "sdnet18-all", "sdnet34-all",
      "resnet18", "resnet34", "sdl",     "vdl",     "sdl-nl",      "vdl-nl"};
  return names;
}

ModelFamily family_of_model(const std::string& m, const std::string& flag) {
  if (m == "csc-ctrl" || m == "ctrl") return ModelFamily::kCtrl;
  if (m.rfind("sdnet", 0) == 0 || m.rfind("resnet", 0) == 0) {
    for (const auto& n : model_names())
      if (n == m) return ModelFamily::kSdnet;
  }
  if (m == "sdl" || m == "vdl" || m == "sdl-nl" || m == "vdl-nl") return ModelFamily::kVdl;
  std::string all;
  for (const auto& n : model_names()) all += (all.empty() ? "" : " ") + n;
  throw InputError(flag + " '" + m + "': unknown model (one of: " + all + ")");
}

const char* family_title(ModelFamily f) {
  switch (f) {
    case ModelFamily::kCtrl: return "CSC-CTRL / CTRL";
    case ModelFamily::kSdnet: return "SDNet / ResNet";
    case ModelFamily::kVdl: return "SDL / VDL";
  }
  return "?";
}

std::string model_of_run(const std::string& run_dir) {
  const std::string cfg = run_dir + "/config.toml";
  require(file_exists(cfg), "--run " + run_dir +
                                ": not a sparseloop run (no config.toml); give the --out folder "
                                "of a `sparseloop train`");
  auto values = read_config_file(cfg);
  auto it = values.find("model");
  require(it != values.end(), cfg + ": has no 'model' key");
  family_of_model(it->second, cfg);
  return it->second;
}

}  // namespace sparseloop
