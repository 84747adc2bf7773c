#include "sparseloop/families/vdl/family.h"

#include "sparseloop/families/vdl/analysis.h"
#include "sparseloop/families/vdl/interop.h"
#include "sparseloop/families/vdl/trainer.h"

namespace sparseloop {

Family vdl_family() {
  Family f;
  f.name = "vdl";
  f.title = "SDL / VDL";
  f.models = {"sdl", "vdl", "sdl-nl", "vdl-nl"};
  f.presets = vdl_presets();
  f.flags = family_flags<VdlConfig>();
  // One preset per row of the paper's Table 3: <data>-<model>.
  f.default_preset = [](const std::string& model, const std::string& data) -> std::string {
    if (data == "mnist" || data == "patches") return data + "-" + model;
    return "";
  };
  f.train = family_trainer<VdlConfig>(f.title, &train_vdl);
  f.analyses.eval = vdl_eval;
  f.analyses.reconstruct = vdl_reconstruct;
  f.analyses.denoise = vdl_denoise;
  f.analyses.atoms = vdl_atoms;
  f.analyses.probe = vdl_probe;
  f.analyses.report = vdl_report;
  f.interop.authors_name = vdl_authors_name;
  f.interop.import_run = family_importer<VdlConfig>(&import_vdl);
  return f;
}

}  // namespace sparseloop
