// Figures and the HTML report of an SDNet / ResNet run: training curves from
// metrics.jsonl, the robust-inference figures (accuracy per corruption level
// at the default, residual-selected and best λ; accuracy against λ per level;
// the residual → λ fit, as the authors' linear_fit_{noise}_noise_test.png).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "sparseloop/engine/run_report.h"

namespace sparseloop {

/// The training-curve panels of a run: RUN/training_curves.png (train batch
/// and test top-1/top-5) and RUN/training_loss.png (log scale).
std::vector<CurvePanel> sdnet_curves();

/// From the JSON of `sparseloop robust` (RobustResult::to_json): writes
/// PATH_STEM.png (accuracy per level), and when the model has a CSC stem
/// PATH_STEM-lambda.png (accuracy against λ per level) and PATH_STEM-fit.png
/// (calibration residual against best λ with the fitted line).
void write_robust_figures(const nlohmann::json& robust, const std::string& path_stem);

/// OUT_DIR/report.html for the run (engine/run_report.h): summary cards,
/// training curves, a section per RUN_DIR/robust/robust-*.json found, the
/// other figures and the configuration. Returns its path.
std::string write_sdnet_report(const std::string& run_dir, const std::string& out_dir);

}  // namespace sparseloop
