// The SDNet family's analysis commands (docs/cli.md §5.3, §5.6, §5.12): `eval` (top1, top5, loss),
// `robust` (accuracy per corruption level and test-time λ of the stem, with
// the residual-selected λ; Dai et al. NeurIPS 2022 §4.3) and `report`.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sparseloop/data/cifar.h"
#include "sparseloop/data/corruptions.h"
#include "sparseloop/engine/family.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/families/sdnet/analysis.h"
#include "sparseloop/families/sdnet/report.h"
#include "sparseloop/families/sdnet/robust.h"
#include "sparseloop/families/sdnet/trainer.h"
#include "sparseloop/io/png.h"
#include "sparseloop/plot/image_grid.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/log.h"
#include "sparseloop/util/random.h"

namespace sparseloop {
namespace {

void write_json_file(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

/// A seeded permutation of n indices.
torch::Tensor permutation(int64_t n, uint64_t seed) {
  auto gen = make_generator(seed, /*stream=*/0x0ca1, 0);
  return torch::randperm(n, gen, torch::kLong);
}

}  // namespace

nlohmann::json sdnet_eval(const EvalRequest& a) {
  require(a.inception.empty(), "--inception: FID/IS apply to the autoencoders, not to " +
                                   model_of_run(a.run));
  const torch::Device device = a.device;
  SdnetRun run = load_sdnet_run(a.run, a.checkpoint, device, a.data, a.data_dir);
  auto m = evaluate_classifier(run.model, run.data, run.data.splits.test, device, a.batch_size,
                               a.limit);
  nlohmann::json j;
  j["top1"] = m.top1;
  j["top5"] = m.top5;
  j["loss"] = m.loss;
  j["samples"] = m.samples;
  j["model"] = run.common.model;
  j["data"] = run.common.data;
  j["checkpoint"] = a.checkpoint;
  write_json_file(a.run + "/eval.json", j);
  say("eval " + run.common.model + " (" + a.checkpoint + "): top-1 " + std::to_string(m.top1) +
      " %, top-5 " + std::to_string(m.top5) + " %, loss " + std::to_string(m.loss) + " on " +
      std::to_string(m.samples) + " test images");
  return j;
}

nlohmann::json sdnet_robust(const RobustRequest& a) {
  const Corruption corruption = parse_corruption(a.corruption);
  const bool c10c = !a.cifar10c_dir.empty();
  std::vector<double> levels;
  if (c10c) {
    levels = a.levels.empty() ? std::vector<double>{1, 2, 3, 4, 5}
                              : parse_number_list(a.levels, "--levels");
    for (double s : levels)
      require(s == std::floor(s) && s >= 1 && s <= 5,
              "--levels: with --cifar10c-dir the levels are severities 1 to 5");
  } else if (a.levels.empty()) {
    levels = sdnet_corruption_levels(corruption);
  } else if (a.levels == "cifar10c") {
    levels = cifar10c_levels(corruption);
  } else {
    levels = parse_number_list(a.levels, "--levels");
  }
  const std::vector<double> lambdas = parse_lambda_sweep(a.lambdas, "--lambda");
  std::string calibration = a.calibration;
  if (calibration == "auto") calibration = c10c ? "holdout" : "train";
  require(calibration == "train" || calibration == "holdout" || calibration == "test",
          "--calibration '" + a.calibration + "': expected auto, train, holdout or test");
  require(!(c10c && calibration == "train"),
          "--calibration train: CIFAR-10-C has no corrupted training images; use holdout or test");
  require(a.calibration_size > 0, "--calibration-size must be positive");
  if (c10c)
    require(std::filesystem::is_directory(a.cifar10c_dir),
            "--cifar10c-dir " + a.cifar10c_dir + ": no such folder");
  const torch::Device device = a.device;
  // Checks the noise levels before the (slow) loading: a corruption of one pixel.
  if (!c10c) {
    auto gen = make_generator(a.seed, 1, 0);
    for (double l : levels) corrupt_images(torch::zeros({1, 1, 1, 1}), corruption, l, gen);
  }
  for (const auto& path : a.baselines) {
    // Checked first, so that the errors name --baseline.
    require(file_exists(path + "/config.toml"),
            "--baseline " + path + ": not a sparseloop run (no config.toml)");
    const std::string m = model_of_run(path);
    require(family_of_model(m).name == "sdnet",
            "--baseline " + path + ": model " + m + " is not an SDNet/ResNet classifier");
  }
  SdnetRun run = load_sdnet_run(a.run, a.checkpoint, device, a.data, a.data_dir);
  const SdnetData& data = run.data;
  // Baselines see the images of --run: the same geometry and classes.
  std::vector<SdnetRun> baselines;
  for (const auto& path : a.baselines) {
    baselines.push_back(load_sdnet_run(path, a.checkpoint, device, a.data, a.data_dir));
    const SdnetData& d = baselines.back().data;
    require(d.channels == data.channels && d.image_size == data.image_size &&
                d.num_classes == data.num_classes,
            "--baseline " + path + ": its images are " + std::to_string(d.channels) + "×" +
                std::to_string(d.image_size) + "² with " + std::to_string(d.num_classes) +
                " classes, those of --run " + std::to_string(data.channels) + "×" +
                std::to_string(data.image_size) + "² with " + std::to_string(data.num_classes));
  }
  if (c10c)
    require(data.channels == 3 && data.image_size == 32,
            "--cifar10c-dir: the run must be a 32×32 RGB (CIFAR-10) model");

  // Test images (and a held-out part for calibration when asked).
  ImageDataset test = data.splits.test;
  torch::Tensor eval_idx = torch::arange(test.size(), torch::kLong);
  torch::Tensor cal_idx;
  if (calibration == "holdout") {
    auto perm = permutation(test.size(), a.seed);
    const int64_t k = std::min(a.calibration_size, test.size() / 2);
    require(k > 0, "--calibration holdout: too few test images");
    cal_idx = perm.narrow(0, 0, k);
    eval_idx = std::get<0>(perm.narrow(0, k, test.size() - k).sort());
  }
  if (a.limit > 0 && a.limit < eval_idx.size(0)) eval_idx = eval_idx.narrow(0, 0, a.limit);
  auto labels = test.batch_labels(eval_idx);
  auto clean01 = data.eval_geometry(test.batch_float(eval_idx));  // (N, C, S, S) in [0, 1]
  LabelledImages clean{data.normalize(clean01), labels};

  ImageDataset cal_set;
  torch::Tensor cal01, cal_labels;
  if (calibration == "train") {
    const auto& train = data.splits.train;
    auto perm = permutation(train.size(), a.seed);
    auto idx = perm.narrow(0, 0, std::min(a.calibration_size, train.size()));
    cal01 = data.eval_geometry(train.batch_float(idx));
    cal_labels = train.batch_labels(idx);
  } else if (calibration == "holdout" && !c10c) {
    cal01 = data.eval_geometry(test.batch_float(cal_idx));
    cal_labels = test.batch_labels(cal_idx);
  }

  // Corrupted images of level i in [0, 1], before any model's normalization
  // (the baselines normalize them their own way): deterministic in (seed,
  // level), so a second call (the pass at the selected λ, a baseline) sees
  // the same noise.
  auto load_c = [&](size_t i, const torch::Tensor& idx) {
    ImageDataset c;
    try {
      c = load_cifar10c(a.cifar10c_dir, cifar10c_name(corruption), static_cast<int>(levels[i]));
    } catch (const InputError& e) {
      throw InputError("--cifar10c-dir " + a.cifar10c_dir + ": " + e.what());
    }
    require(c.size() == test.size(), "--cifar10c-dir: " + cifar10c_name(corruption) +
                                         ".npy has " + std::to_string(c.size()) +
                                         " images per severity, the test split " +
                                         std::to_string(test.size()));
    return LabelledImages{data.eval_geometry(c.batch_float(idx)),
                          c.labelled() ? c.batch_labels(idx) : test.batch_labels(idx)};
  };
  auto noisy = [&](const torch::Tensor& x01, size_t i, uint64_t stream) {
    auto gen = make_generator(a.seed, stream, i);
    return corrupt_images(x01, corruption, levels[i], gen, !a.float_images);
  };
  LevelImages test01 = [&](size_t i) {
    if (c10c) return load_c(i, eval_idx);
    return LabelledImages{noisy(clean01, i, 0x7e57), labels};
  };
  auto normalized = [](const SdnetData& d, const LevelImages& level01) -> LevelImages {
    return [&d, level01](size_t i) {
      LabelledImages im = level01(i);
      return LabelledImages{d.normalize(im.x), im.y};
    };
  };
  LevelImages test_level = normalized(data, test01);
  LevelImages cal_level = normalized(data, [&](size_t i) {
    if (c10c) return load_c(i, cal_idx);
    return LabelledImages{noisy(cal01, i, 0xca1b), cal_labels};
  });

  RobustOptions o;
  o.corruption = to_string(corruption);
  o.levels = levels;
  o.lambdas = lambdas;
  o.batch_size = a.batch_size;
  o.calibration = calibration;
  say("robust: " + run.common.model + ", " + o.corruption + " noise, " +
      std::to_string(levels.size()) + " levels × " + std::to_string(lambdas.size()) + " λ on " +
      std::to_string(labels.size(0)) + " test images (calibration: " + calibration + ")");
  RobustResult r = robust_inference(run.model, o, clean, test_level, cal_level, device);
  for (size_t k = 0; k < baselines.size(); ++k) {
    SdnetRun& b = baselines[k];
    const std::string& path = a.baselines[k];
    say("robust: baseline " + b.common.model + " (" + path + ")");
    RobustBaseline rb =
        robust_baseline(b.model, LabelledImages{b.data.normalize(clean01), labels},
                        normalized(b.data, test01), levels.size(), device, a.batch_size);
    rb.model = b.common.model;
    rb.name = b.common.model + " (" + std::filesystem::path(path).filename().string() + ")";
    r.baselines.push_back(std::move(rb));
  }
  nlohmann::json j = r.to_json();
  j["model"] = run.common.model;
  j["checkpoint"] = a.checkpoint;
  j["samples"] = labels.size(0);
  j["source"] = c10c ? "cifar10c" : "generated";
  j["quantized"] = !a.float_images;

  const std::string out = a.output_dir("robust");
  make_dirs(out);
  const std::string stem = out + "/robust-" + o.corruption;
  write_json_file(stem + ".json", j);
  write_robust_figures(j, stem);
  for (size_t i = 0; i < r.levels.size(); ++i) {
    const RobustLevel& l = r.levels[i];
    std::ostringstream s;
    s.precision(4);
    s << "  level " << l.level << ": default " << l.accuracy_default_lambda;
    if (r.has_csc_stem)
      s << " | best λ " << l.best_lambda << " → " << l.accuracy_best_lambda << " | selected λ "
        << l.selected_lambda << " → " << l.accuracy_selected_lambda;
    for (const auto& b : r.baselines) s << " | " << b.name << " " << b.accuracy[i];
    say(s.str());
  }
  say("wrote " + stem + ".json");
  return j;
}

nlohmann::json sdnet_atoms(const AtomsRequest& a) {
  require(a.count >= 0, "--count must be >= 0");
  SdnetRun run = load_sdnet_run(a.run, a.checkpoint, a.device, a.data, a.data_dir);
  require(static_cast<bool>(run.model->stem_csc()),
          "`sparseloop atoms`: " + run.common.model + " has no CSC stem, so no dictionary");
  const std::string out = a.output_dir("atoms");
  make_dirs(out);
  // The stem's atoms live in image space: (width, channels, k, k).
  auto dict = run.model->stem_csc()->dictionary().detach().cpu();
  const int64_t n = a.count > 0 ? std::min(a.count, dict.size(0)) : dict.size(0);
  write_png(out + "/atoms.png", atom_grid(dict.narrow(0, 0, n), 16, 28));
  nlohmann::json j = {{"atoms", n},
                      {"kind", "stem CSC layer, " + std::to_string(dict.size(1)) + "×" +
                                   std::to_string(dict.size(2)) + "×" +
                                   std::to_string(dict.size(3)) + " (unit norm)"},
                      {"figure", out + "/atoms.png"}};
  write_json_file(out + "/atoms.json", j);
  say(std::to_string(n) + " atoms of the stem -> " + out + "/atoms.png");
  return j;
}

nlohmann::json sdnet_report(const ReportRequest& a) {
  const std::string html = write_sdnet_report(a.run, a.out.empty() ? a.run : a.out);
  say("wrote " + html);
  nlohmann::json j;
  j["report"] = html;
  return j;
}

}  // namespace sparseloop
