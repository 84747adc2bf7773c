#include "sparseloop/families/sdnet/family.h"

#include "sparseloop/families/sdnet/analysis.h"
#include "sparseloop/families/sdnet/interop.h"
#include "sparseloop/families/sdnet/trainer.h"

namespace sparseloop {

Family sdnet_family() {
  Family f;
  f.name = "sdnet";
  f.title = "SDNet / ResNet";
  f.models = {"sdnet18", "sdnet34", "sdnet18-all", "sdnet34-all", "resnet18", "resnet34"};
  f.presets = sdnet_presets();
  f.flags = family_flags<SdnetConfig>();
  // The defaults are the paper's CIFAR settings; other data get their preset.
  f.default_preset = [](const std::string&, const std::string& data) -> std::string {
    if (data == "mnist") return "mnist-sdnet";
    if (data == "cifar10") return "cifar10-sdnet";
    if (data == "cifar100") return "cifar100-sdnet";
    if (data == "folder") return "imagenet-sdnet";
    return "";
  };
  f.train = family_trainer<SdnetConfig>(f.title, &train_sdnet);
  f.analyses.eval = sdnet_eval;
  f.analyses.robust = sdnet_robust;
  f.analyses.atoms = sdnet_atoms;
  f.analyses.report = sdnet_report;
  f.interop.authors_name = sdnet_authors_name;
  f.interop.derived = sdnet_derived_tensors;
  f.interop.default_data = sdnet_default_data;
  f.interop.import_run = family_importer<SdnetConfig>(&import_sdnet);
  return f;
}

}  // namespace sparseloop
