// The CSC-CTRL / CTRL handlers of the analysis commands (analysis.h).
#include "analysis.h"
#include "ctrl_commands.h"
#include "sparseloop/train/ctrl_analysis.h"
#include "sparseloop/util/error.h"

namespace sparseloop::cli {
namespace {

CtrlAnalysisOptions options_from(const RunArgs& a, const std::string& command) {
  CtrlAnalysisOptions o;
  o.device = apply_common_flags(a.common);
  o.checkpoint = a.checkpoint;
  o.data = a.data;
  o.data_dir = a.data_dir;
  o.batch_size = a.batch_size;
  o.limit = a.limit;
  o.seed = a.common.seed;
  o.out = command == "eval" || command == "report" ? a.out : output_dir(a, command);
  return o;
}

int finish(const RunArgs& a, const std::string& what, const nlohmann::json& r) {
  say(what);
  print_json(a.common, r);
  return 0;
}

}  // namespace

FamilyHandlers ctrl_handlers() {
  FamilyHandlers h;
  h.eval = [](const EvalArgs& a) {
    auto r = evaluate_ctrl(a.run, options_from(a, "eval"), a.inception);
    std::string line = "eval: PSNR " + std::to_string(r.value("psnr", 0.0)) + " dB, SSIM " +
                       std::to_string(r.value("ssim", 0.0));
    if (r.contains("consistency_accuracy"))
      line += ", consistency accuracy " + std::to_string(r["consistency_accuracy"].get<double>());
    return finish(a, line + " -> " + a.run + "/eval.json", r);
  };
  h.reconstruct = [](const ReconstructArgs& a) {
    auto o = options_from(a, "reconstruct");
    auto r = reconstruct_ctrl(a.run, o, a.count);
    return finish(a, "reconstruct: " + o.out + "/reconstruct.png", r);
  };
  h.denoise = [](const DenoiseArgs& a) {
    auto o = options_from(a, "denoise");
    auto r = denoise_ctrl(a.run, o, a.sigma, parse_number_list(a.lambdas, "--lambda"));
    return finish(a, "denoise: " + o.out + "/denoise.png and denoise.json", r);
  };
  h.interpolate = [](const InterpolateArgs& a) {
    auto o = options_from(a, "interpolate");
    auto r = interpolate_ctrl(a.run, o, a.pairs, a.steps);
    return finish(a, "interpolate: " + o.out + "/interpolate.png", r);
  };
  h.pca = [](const PcaArgs& a) {
    auto o = options_from(a, "pca");
    auto r = pca_ctrl(a.run, o, a.components, a.per_component);
    return finish(a, "pca: " + o.out + "/pca_class*.png", r);
  };
  h.similarity = [](const SimilarityArgs& a) {
    auto o = options_from(a, "similarity");
    auto r = similarity_ctrl(a.run, o);
    return finish(a, "similarity: " + o.out + "/similarity_z.png", r);
  };
  h.report = [](const ReportArgs& a) {
    auto r = report_ctrl(a.run, options_from(a, "report"));
    return finish(a, "report: " + r["report"].get<std::string>(), r);
  };
  return h;
}

}  // namespace sparseloop::cli
