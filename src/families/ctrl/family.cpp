#include "sparseloop/families/ctrl/family.h"

#include "sparseloop/families/ctrl/analysis.h"
#include "sparseloop/families/ctrl/trainer.h"

namespace sparseloop {

Family ctrl_family() {
  Family f;
  f.name = "ctrl";
  f.title = "CSC-CTRL / CTRL";
  f.models = {"csc-ctrl", "ctrl"};
  f.presets = ctrl_presets();
  f.flags = family_flags<CtrlConfig>();
  f.default_preset = [](const std::string& model, const std::string& data) -> std::string {
    const bool csc = model != "ctrl";
    if (data == "mnist") return csc ? "mnist-csc-ctrl" : "mnist-ctrl";
    if (data == "cifar10") return csc ? "cifar10-csc-ctrl" : "cifar10-ctrl";
    if (data == "stl10" && csc) return "stl10-csc-ctrl";
    if (data == "folder" && csc) return "imagenet-csc-ctrl";
    return "";
  };
  f.train = family_trainer<CtrlConfig>(f.title, &train_ctrl);
  f.analyses.eval = ctrl_eval;
  f.analyses.reconstruct = ctrl_reconstruct;
  f.analyses.denoise = ctrl_denoise;
  f.analyses.interpolate = ctrl_interpolate;
  f.analyses.pca = ctrl_pca;
  f.analyses.similarity = ctrl_similarity;
  f.analyses.atoms = ctrl_atoms;
  f.analyses.report = ctrl_report;
  return f;
}

}  // namespace sparseloop
