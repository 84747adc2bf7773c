// Robust inference with SDNet by changing the stem's λ at test time (Dai et
// al., NeurIPS 2022, §4.3 and Fig. 4; authors' robust_inference.py):
//   1. corrupt the test images at each level;
//   2. sweep the stem CSC layer's λ (0.1 … 1.4), recording the accuracy and
//      the mean reconstruction residual r(λ) = ‖x − D z_λ(x)‖² per image;
//   3. fit a line λ* ≈ a·r(λ*) + b across levels, where λ* is the λ of best
//      accuracy on *calibration* images (labels allowed there);
//   4. on test images, choose λ from residuals alone: the λ where the fitted
//      line meets the measured curve, λ = a·r(λ) + b.
// Differences from the authors' script, on purpose (docs/sdnet-authors-code.md §5):
//   - the residual recorded for (level, λ) is that pass's own mean (theirs
//     accumulates over every previous pass: a list never cleared);
//   - the fit is applied (their script only prints it), and by default it is
//     fitted on held-out calibration images, not on the evaluated test images,
//     so the reported "selected" accuracy does not use test labels.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/families/sdnet/model.h"
#include "sparseloop/plot/plot.h"

namespace sparseloop {

/// Images ready for the network (normalized, (N, C, H, W), CPU) and labels (N,).
struct LabelledImages {
  torch::Tensor x;
  torch::Tensor y;
};

/// Accuracy and residual of every image at every λ of a sweep.
struct LambdaSweep {
  std::vector<double> lambdas;
  std::vector<double> accuracy;  ///< percent, per λ
  std::vector<double> residual;  ///< mean ‖x − Dz‖² per λ (undefined without a CSC stem)
  torch::Tensor correct;         ///< (L, N) bool
  torch::Tensor residuals;       ///< (L, N) double; undefined without a CSC stem
};

/// Evaluates `model` (eval mode, no grad) on `images` with the stem λ set to
/// each of `lambdas` in turn; restores the stem's λ afterwards. A model
/// without a CSC stem is evaluated once and the result repeated.
LambdaSweep sweep_stem_lambda(Sdnet& model, const LabelledImages& images,
                              const std::vector<double>& lambdas, torch::Device device,
                              int64_t batch_size);

/// The line λ* ≈ slope·r + intercept through the calibration points (r: the
/// residual at the best λ, λ*: that λ), by least squares as numpy.polyfit(r,
/// λ*, 1) in the authors' script. With fewer than two distinct residuals
/// the slope is 0 and the intercept the mean λ*.
LinearFit fit_lambda_line(const std::vector<double>& residuals,
                          const std::vector<double>& best_lambdas);

/// The λ where the line λ = a·r(λ) + b meets the measured curve r(λ) given on
/// the grid `lambdas` (ascending), by linear interpolation between the grid
/// points where g(λ) = a·r(λ) + b − λ changes sign (the first such crossing);
/// without a crossing, the grid λ with the smallest |g|.
double select_lambda(const LinearFit& fit, const std::vector<double>& lambdas,
                     const std::vector<double>& residual_curve);

struct RobustOptions {
  std::string corruption;              ///< name, for the report
  std::vector<double> levels;
  std::vector<double> lambdas;         ///< ascending
  int64_t batch_size = 256;
  /// "train" | "holdout" | "test": where λ* of the fit comes from (images from
  /// the training split, a held-out part of the test images, or the evaluated
  /// test images themselves as in the authors' script: optimistic).
  std::string calibration = "train";
};

struct RobustLevel {
  double level = 0;
  LambdaSweep sweep;                   ///< on the evaluated test images
  double accuracy_default_lambda = 0;  ///< λ as trained
  double residual_default_lambda = 0;
  double best_lambda = 0;              ///< oracle: argmax of the test accuracy
  double accuracy_best_lambda = 0;
  double calibration_best_lambda = 0;  ///< argmax on calibration images
  double calibration_residual = 0;     ///< their mean residual at that λ
  double selected_lambda = 0;          ///< from test residuals and the fit
  double accuracy_selected_lambda = 0;
  /// The rule applied per image (each image's own residual curve, λ on the grid).
  double accuracy_selected_per_image = 0;
};

/// Another trained classifier (a ResNet, or an SDNet at its own λ) evaluated
/// on the same corrupted images, for the comparison the paper draws.
struct RobustBaseline {
  std::string name;              ///< for tables and legends
  std::string model;             ///< model name (docs/cli.md §4.4)
  double clean_accuracy = 0;     ///< percent
  std::vector<double> accuracy;  ///< percent, per level
};

struct RobustResult {
  std::string corruption;
  std::string calibration;
  bool has_csc_stem = false;
  double default_lambda = 0;
  double clean_accuracy = 0;
  std::vector<double> lambdas;
  LinearFit fit;
  std::vector<RobustLevel> levels;
  std::vector<RobustBaseline> baselines;

  /// The keys of `sparseloop robust` (docs/cli.md §5.6) (plus per-λ curves, the fit and
  /// "baselines": [{name, model, clean_accuracy, accuracy per level}]); λ
  /// fields are null for a model without a CSC stem.
  nlohmann::json to_json() const;
};

/// Supplies the images of level `i` (normalized, CPU).
using LevelImages = std::function<LabelledImages(size_t level_index)>;

/// Runs steps 1–4. `test(i)` and `calibration(i)` give the images of level i;
/// `clean` the uncorrupted test images. With calibration "test", `calibration`
/// is not called. A model without a CSC stem gets only accuracies per level.
RobustResult robust_inference(Sdnet& model, const RobustOptions& options,
                              const LabelledImages& clean, const LevelImages& test,
                              const LevelImages& calibration, torch::Device device);

/// Accuracy of `model` at its own λ on `clean` and on `test(i)` for each of
/// `levels` levels (the images of the run under test, normalized as `model`
/// expects them).
RobustBaseline robust_baseline(Sdnet& model, const LabelledImages& clean, const LevelImages& test,
                               size_t levels, torch::Device device, int64_t batch_size);

/// Parses a λ sweep "start:stop:count" (numpy.linspace) or "a,b,c";
/// InputError naming `flag` (values must be ≥ 0; sorted ascending).
std::vector<double> parse_lambda_sweep(const std::string& text, const std::string& flag = "--lambda");

}  // namespace sparseloop
