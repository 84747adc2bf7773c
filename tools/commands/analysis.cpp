#include "analysis.h"

#include "commands.h"
#include "ctrl_commands.h"
#include "sparseloop/util/error.h"

namespace sparseloop::cli {

const std::map<ModelFamily, FamilyHandlers>& family_handlers() {
  static const std::map<ModelFamily, FamilyHandlers> handlers = [] {
    std::map<ModelFamily, FamilyHandlers> h;
    // Each family registers its handlers here.
    h[ModelFamily::kCtrl] = ctrl_handlers();
    h[ModelFamily::kVdl] = vdl_handlers();
    h[ModelFamily::kSdnet] = sdnet_handlers();
    return h;
  }();
  return handlers;
}

std::string output_dir(const RunArgs& args, const std::string& command) {
  return args.out.empty() ? args.run + "/" + command : args.out;
}

namespace {

void add_run_flags(CLI::App* cmd, RunArgs& a) {
  cmd->add_option("--run", a.run, "run folder written by `sparseloop train --out`")->required();
  cmd->add_option("--data", a.data, "dataset (default: the run's)");
  cmd->add_option("--data-dir", a.data_dir, "dataset folder (default: the run's)");
  cmd->add_option("--out", a.out, "folder for figures and JSON (default: RUN/<command>)");
  cmd->add_option("--checkpoint", a.checkpoint, "best | final | step-XXXXXXXX")
      ->capture_default_str();
  cmd->add_option("--batch-size", a.batch_size, "evaluation batch size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--limit", a.limit, "use at most this many test samples (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_common_flags(cmd, a.common);
}

/// Runs `member` of the run's family, or fails naming the command.
template <class Args>
int dispatch(const std::string& command, const Args& args,
             std::function<int(const Args&)> FamilyHandlers::*member) {
  const std::string model = model_of_run(args.run);
  const ModelFamily family = family_of_model(model);
  const auto& all = family_handlers();
  auto it = all.find(family);
  if (it == all.end() || !(it->second.*member))
    throw InputError("`sparseloop " + command + "` does not apply to model " + model + " (" +
                     family_title(family) + ")");
  return (it->second.*member)(args);
}

}  // namespace

void register_analysis(CLI::App& app, std::vector<Command>& commands) {
  {
    auto a = std::make_shared<EvalArgs>();
    auto* c = add_command(app, commands, "eval", "Evaluate a run; writes RUN/eval.json",
                          [a] { return dispatch("eval", *a, &FamilyHandlers::eval); });
    add_run_flags(c, *a);
    c->add_option("--inception", a->inception,
                  "TorchScript Inception network (enables FID and Inception Score)");
  }
  {
    auto a = std::make_shared<ReconstructArgs>();
    auto* c = add_command(app, commands, "reconstruct", "Grid of inputs over reconstructions",
                          [a] { return dispatch("reconstruct", *a, &FamilyHandlers::reconstruct); });
    add_run_flags(c, *a);
    c->add_option("--count", a->count, "images in the grid")->capture_default_str();
  }
  {
    auto a = std::make_shared<DenoiseArgs>();
    auto* c = add_command(app, commands, "denoise",
                          "PSNR/SSIM/MSE of reconstructions of noisy inputs per λ (inference only)",
                          [a] { return dispatch("denoise", *a, &FamilyHandlers::denoise); });
    add_run_flags(c, *a);
    c->add_option("--sigma", a->sigma, "Gaussian noise σ")->capture_default_str();
    c->add_option("--lambda", a->lambdas, "comma-separated λ values")->capture_default_str();
  }
  {
    auto a = std::make_shared<RobustArgs>();
    auto* c = add_command(app, commands, "robust",
                          "Accuracy under corruptions per level and test-time λ (SDNet)",
                          [a] { return dispatch("robust", *a, &FamilyHandlers::robust); });
    add_run_flags(c, *a);
    c->add_option("--corruption", a->corruption, "gaussian | shot | speckle | impulse")
        ->capture_default_str()
        ->check(CLI::IsMember({"gaussian", "shot", "speckle", "impulse"}));
    c->add_option("--levels", a->levels, "comma-separated levels (default: SDNet's)");
    c->add_option("--lambda", a->lambdas, "λ sweep as start:stop:count or a list")
        ->capture_default_str();
    c->add_option("--cifar10c-dir", a->cifar10c_dir,
                  "read CIFAR-10-C .npy files (severities 1-5) instead of corrupting");
    c->add_option("--calibration", a->calibration,
                  "images whose best λ fits the residual→λ line: auto | train | holdout | test")
        ->capture_default_str();
    c->add_option("--calibration-size", a->calibration_size, "calibration images")
        ->capture_default_str();
    c->add_flag("--float-images", a->float_images,
                "keep corrupted images as floats (no uint8 truncation)");
    c->add_option("--baseline", a->baselines,
                  "another run (e.g. a ResNet) evaluated on the same corrupted images; repeatable");
  }
  {
    auto a = std::make_shared<InterpolateArgs>();
    auto* c = add_command(app, commands, "interpolate", "Decode α f(x₁) + (1−α) f(x₂)",
                          [a] { return dispatch("interpolate", *a, &FamilyHandlers::interpolate); });
    add_run_flags(c, *a);
    c->add_option("--pairs", a->pairs, "pairs of images")->capture_default_str();
    c->add_option("--steps", a->steps, "values of α per pair")->capture_default_str();
  }
  {
    auto a = std::make_shared<PcaArgs>();
    auto* c = add_command(app, commands, "pca",
                          "Per class, decode the samples closest to the top principal components",
                          [a] { return dispatch("pca", *a, &FamilyHandlers::pca); });
    add_run_flags(c, *a);
    c->add_option("--components", a->components, "principal components per class")
        ->capture_default_str();
    c->add_option("--per-component", a->per_component, "samples shown per component")
        ->capture_default_str();
  }
  {
    auto a = std::make_shared<SimilarityArgs>();
    auto* c = add_command(app, commands, "similarity", "Cosine-similarity heatmap of features by class",
                          [a] { return dispatch("similarity", *a, &FamilyHandlers::similarity); });
    add_run_flags(c, *a);
  }
  {
    auto a = std::make_shared<AtomsArgs>();
    auto* c = add_command(app, commands, "atoms", "Picture of the dictionary atoms",
                          [a] { return dispatch("atoms", *a, &FamilyHandlers::atoms); });
    add_run_flags(c, *a);
    c->add_option("--count", a->count, "atoms to show (0: all)")->capture_default_str();
  }
  {
    auto a = std::make_shared<ProbeArgs>();
    auto* c = add_command(app, commands, "probe",
                          "Few-shot linear classifier on frozen codes (top-1/top-3)",
                          [a] { return dispatch("probe", *a, &FamilyHandlers::probe); });
    add_run_flags(c, *a);
    c->add_option("--shots", a->shots, "samples per class, comma-separated")->capture_default_str();
    c->add_option("--epochs", a->epochs, "training epochs of the probe")->capture_default_str();
  }
  {
    auto a = std::make_shared<ReportArgs>();
    auto* c = add_command(app, commands, "report", "One self-contained report.html for a run",
                          [a] { return dispatch("report", *a, &FamilyHandlers::report); });
    add_run_flags(c, *a);
  }
}

}  // namespace sparseloop::cli
