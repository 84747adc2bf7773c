// `sparseloop export` and `sparseloop import`: weights out to and in from
// PyTorch (docs/cli.md, docs/pytorch.md): flags → engine/interop.h.
#include <iostream>

#include "commands.h"
#include "sparseloop/engine/interop.h"

namespace sparseloop::cli {

void register_interop(CLI::App& app, std::vector<Command>& commands) {
  auto ex = std::make_shared<ExportRequest>();
  auto ex_common = std::make_shared<CommonFlags>();
  auto* e = add_command(app, commands, "export",
                        "Write a run's weights for PyTorch (torch.load dict or safetensors, the "
                        "authors' names)",
                        [ex, ex_common] {
                          apply_common_flags(*ex_common);
                          const auto r = export_run(*ex);
                          if (!ex_common->json)
                            std::cout << "wrote " << r["out"].get<std::string>() << " ("
                                      << r["tensors"] << " tensors, " << r["names"].get<std::string>()
                                      << " names)" << std::endl;
                          print_json(*ex_common, r);
                          return 0;
                        });
  e->add_option("--run", ex->run, "run folder written by `sparseloop train --out`")->required();
  e->add_option("--format", ex->format, "pytorch (torch.load) | safetensors")
      ->capture_default_str()
      ->check(CLI::IsMember({"pytorch", "safetensors"}));
  e->add_option("--checkpoint", ex->checkpoint, "best | final | step-XXXXXXXX")
      ->capture_default_str();
  e->add_option("--out", ex->out, "file to write (default: RUN/export.pt or RUN/export.safetensors)");
  add_common_flags(e, *ex_common);

  auto im = std::make_shared<ImportRequest>();
  auto im_common = std::make_shared<CommonFlags>();
  auto* i = add_command(app, commands, "import",
                        "Make a run folder from PyTorch weights with the authors' names "
                        "(convert .pth files with tools/torch2safetensors.py)",
                        [im, im_common] {
                          apply_common_flags(*im_common);
                          // --config (a common flag): further settings, as for `train --config`.
                          im->config = im_common->config;
                          const auto r = import_run(*im);
                          if (!im_common->json)
                            std::cout << "wrote run " << im->out << " (" << im->model << " from "
                                      << im->from << "): eval, robust and report accept it"
                                      << std::endl;
                          print_json(*im_common, r);
                          return 0;
                        });
  i->add_option("--model", im->model,
                "sdnet18 sdnet34 sdnet18-all sdnet34-all resnet18 resnet34 sdl vdl sdl-nl vdl-nl")
      ->required();
  i->add_option("--from", im->from, "safetensors file with the authors' tensor names")->required();
  i->add_option("--out", im->out, "run folder to create")->required();
  i->add_option("--data", im->data,
                "dataset the run is for (default: guessed from the weights, e.g. cifar10)");
  i->add_option("--data-dir", im->data_dir, "dataset folder");
  i->add_option("--image-size", im->image_size,
                "input size in pixels (0: 32 for CIFAR-stem SDNets, 224 ImageNet's; VDL: a square)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_common_flags(i, *im_common);
}

}  // namespace sparseloop::cli
