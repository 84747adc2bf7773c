// Gathers every family's presets (CLI.md `--preset`, `--list-presets`).
#include <mutex>

#include "sparseloop/train/config.h"
#include "sparseloop/train/ctrl_trainer.h"
#include "sparseloop/train/vdl_trainer.h"
#include "sparseloop/train/sdnet_trainer.h"
#include "sparseloop/util/error.h"

namespace sparseloop {

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = [] {
    std::vector<Preset> out;
    // Each family appends its list here (see its trainer header).
    for (auto& p : ctrl_presets()) out.push_back(p);
    for (auto& p : vdl_presets()) out.push_back(p);
    for (auto& p : sdnet_presets()) out.push_back(p);
    return out;
  }();
  return all;
}

const Preset& find_preset(const std::string& name) {
  std::string names;
  for (const auto& p : presets()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  throw InputError("--preset '" + name + "': unknown preset (available: " +
                   (names.empty() ? "none" : names) + "; see sparseloop train --list-presets)");
}

}  // namespace sparseloop
