// Figures and the HTML report of an SDNet / ResNet run: training curves from
// metrics.jsonl, the robust-inference figures (accuracy per corruption level
// at the default, residual-selected and best λ; accuracy against λ per level;
// the residual → λ fit, as the authors' linear_fit_{noise}_noise_test.png).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sparseloop {

/// RUN_DIR/training_curves.png: test top-1 per epoch and training loss per
/// logged step. Returns the path, or "" when metrics.jsonl has no records.
std::string write_sdnet_training_curves(const std::string& run_dir);

/// From the JSON of `sparseloop robust` (RobustResult::to_json): writes
/// PATH_STEM.png (accuracy per level), and when the model has a CSC stem
/// PATH_STEM-lambda.png (accuracy against λ per level) and PATH_STEM-fit.png
/// (calibration residual against best λ with the fitted line).
void write_robust_figures(const nlohmann::json& robust, const std::string& path_stem);

/// OUT_DIR/report.html for the run: configuration, summary cards, training
/// curves, eval.json and every RUN_DIR/robust/robust-*.json found. Returns its path.
std::string write_sdnet_report(const std::string& run_dir, const std::string& out_dir);

}  // namespace sparseloop
