// The commands that inspect a trained run (docs/cli.md "eval" and "Analysis
// commands"): each fills its request (engine/analysis.h) from the flags and
// calls the entry point of the run's family; a family without one gets a
// one-line error (exit 2).
#include "commands.h"
#include "sparseloop/engine/family.h"
#include "sparseloop/util/output_path.h"

namespace sparseloop::cli {
namespace {

/// InputError naming --checkpoint unless it is best, final or step-N.
void check_checkpoint_name(const std::string& name) {
  const bool step = name.rfind("step-", 0) == 0 && name.size() > 5 &&
                    name.find_first_not_of("0123456789", 5) == std::string::npos;
  require(name == "best" || name == "final" || step,
          "--checkpoint '" + name + "': expected best, final or step-XXXXXXXX");
}

/// Flags every analysis command takes, into `r` (the device is resolved when
/// the command runs, from `common`).
void add_run_flags(CLI::App* cmd, AnalysisRequest& r, CommonFlags& common) {
  cmd->add_option("--run", r.run, "run folder written by `sparseloop train --out`")->required();
  cmd->add_option("--data", r.data, "dataset (default: the run's)");
  cmd->add_option("--data-dir", r.data_dir, "dataset folder (default: the run's)");
  cmd->add_option("--out", r.out, "folder for figures and JSON (default: RUN/<command>)");
  cmd->add_option("--checkpoint", r.checkpoint, "best | final | step-XXXXXXXX")
      ->capture_default_str();
  cmd->add_option("--batch-size", r.batch_size, "evaluation batch size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--limit", r.limit, "use at most this many test samples (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_common_flags(cmd, common, /*precision=*/true);
}

/// Registers `name`, whose request type is Request and whose entry point is
/// `member` of the run's family; `extra` adds the command's own flags.
template <class Request>
CLI::App* add_analysis(CLI::App& app, std::vector<Command>& commands, const std::string& name,
                       const std::string& description,
                       std::function<nlohmann::json(const Request&)> FamilyAnalyses::*member,
                       const std::function<void(CLI::App*, Request&)>& extra = {}) {
  auto request = std::make_shared<Request>();
  auto common = std::make_shared<CommonFlags>();
  auto* cmd = add_command(app, commands, name, description, [=] {
    request->device = apply_common_flags(*common);
    request->seed = common->seed;
    const std::string model = model_of_run(request->run);
    const Family& family = family_of_model(model);
    // For every family and command up front: a misspelt --checkpoint
    // (`latest`) was ignored by the analyses that read no weights, and an
    // --out that cannot be a folder failed only after the work.
    check_checkpoint_name(request->checkpoint);
    require_writable_folder_path(request->out, "--out");
    const auto& entry = family.analyses.*member;
    if (!entry)
      throw InputError("`sparseloop " + name + "` does not apply to model " + model + " (" +
                       family.title + ")");
    print_json(*common, entry(*request));
    return 0;
  });
  add_run_flags(cmd, *request, *common);
  if (extra) extra(cmd, *request);
  return cmd;
}

}  // namespace

void register_analysis(CLI::App& app, std::vector<Command>& commands) {
  add_analysis<EvalRequest>(app, commands, "eval", "Evaluate a run; writes RUN/eval.json",
                            &FamilyAnalyses::eval, [](CLI::App* c, EvalRequest& r) {
                              c->add_option("--inception", r.inception,
                                            "TorchScript Inception network (enables FID and "
                                            "Inception Score)");
                            });
  add_analysis<ReconstructRequest>(
      app, commands, "reconstruct", "Grid of inputs over reconstructions",
      &FamilyAnalyses::reconstruct, [](CLI::App* c, ReconstructRequest& r) {
        c->add_option("--count", r.count, "images in the grid")->capture_default_str();
      });
  add_analysis<DenoiseRequest>(
      app, commands, "denoise",
      "PSNR/SSIM/MSE of reconstructions of noisy inputs per λ (inference only)",
      &FamilyAnalyses::denoise, [](CLI::App* c, DenoiseRequest& r) {
        c->add_option("--sigma", r.sigma, "Gaussian noise σ")
            ->capture_default_str()
            ->check(CLI::NonNegativeNumber);
        c->add_option_function<std::string>(
              "--lambda", [&r](const std::string& s) { r.lambdas = parse_number_list(s, "--lambda"); },
              "comma-separated λ values")
            ->default_str("0.01,0.1,0.5");
      });
  add_analysis<RobustRequest>(
      app, commands, "robust", "Accuracy under corruptions per level and test-time λ (SDNet)",
      &FamilyAnalyses::robust, [](CLI::App* c, RobustRequest& r) {
        c->add_option("--corruption", r.corruption, "gaussian | shot | speckle | impulse")
            ->capture_default_str()
            ->check(CLI::IsMember({"gaussian", "shot", "speckle", "impulse"}));
        c->add_option("--levels", r.levels, "comma-separated levels (default: SDNet's)");
        c->add_option("--lambda", r.lambdas, "λ sweep as start:stop:count or a list")
            ->capture_default_str();
        c->add_option("--cifar10c-dir", r.cifar10c_dir,
                      "read CIFAR-10-C .npy files (severities 1-5) instead of corrupting");
        c->add_option("--calibration", r.calibration,
                      "images whose best λ fits the residual→λ line: auto | train | holdout | test")
            ->capture_default_str();
        c->add_option("--calibration-size", r.calibration_size, "calibration images")
            ->capture_default_str();
        c->add_flag("--float-images", r.float_images,
                    "keep corrupted images as floats (no uint8 truncation)");
        c->add_option("--baseline", r.baselines,
                      "another run (e.g. a ResNet) evaluated on the same corrupted images; "
                      "repeatable");
      });
  add_analysis<InterpolateRequest>(
      app, commands, "interpolate", "Decode α f(x₁) + (1−α) f(x₂)", &FamilyAnalyses::interpolate,
      [](CLI::App* c, InterpolateRequest& r) {
        c->add_option("--pairs", r.pairs, "pairs of images")->capture_default_str();
        c->add_option("--steps", r.steps, "values of α per pair")->capture_default_str();
      });
  add_analysis<PcaRequest>(
      app, commands, "pca", "Per class, decode the samples closest to the top principal components",
      &FamilyAnalyses::pca, [](CLI::App* c, PcaRequest& r) {
        c->add_option("--components", r.components, "principal components per class")
            ->capture_default_str();
        c->add_option("--per-component", r.per_component, "samples shown per component")
            ->capture_default_str();
      });
  add_analysis<SimilarityRequest>(app, commands, "similarity",
                                  "Cosine-similarity heatmap of features by class",
                                  &FamilyAnalyses::similarity);
  add_analysis<AtomsRequest>(app, commands, "atoms", "Picture of the dictionary atoms",
                             &FamilyAnalyses::atoms, [](CLI::App* c, AtomsRequest& r) {
                               c->add_option("--count", r.count, "atoms to show (0: all)")
                                   ->capture_default_str();
                             });
  add_analysis<ProbeRequest>(
      app, commands, "probe", "Few-shot linear classifier on frozen codes (top-1/top-3)",
      &FamilyAnalyses::probe, [](CLI::App* c, ProbeRequest& r) {
        c->add_option("--shots", r.shots, "samples per class, comma-separated")
            ->capture_default_str();
        c->add_option("--epochs", r.epochs, "training epochs of the probe")->capture_default_str();
      });
  add_analysis<ReportRequest>(app, commands, "report", "One self-contained report.html for a run",
                              &FamilyAnalyses::report);
}

}  // namespace sparseloop::cli
