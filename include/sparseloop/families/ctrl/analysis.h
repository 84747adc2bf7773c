// Evaluation and pictures of a trained closed-loop run (docs/cli.md §5: `eval`,
// `reconstruct`, `denoise`, `interpolate`, `pca`, `similarity`, `report`).
// Each function loads the request's run, works on the test split (or another
// dataset of the same image size), writes its PNG/JSON files into the
// request's output folder and returns its JSON result.
#pragma once

#include <nlohmann/json.hpp>

#include "sparseloop/engine/analysis.h"
#include "sparseloop/engine/run_report.h"

namespace sparseloop {

/// PSNR, SSIM, MSE of X̂ = g(f(X)) against X, code sparsity, consistency
/// accuracy (the independent classifier on X̂), nearest-subspace accuracy of
/// the features; FID and Inception Score when `inception` names a
/// TorchScript network. For runs trained on a subset of classes, the same
/// metrics on the unseen classes under "unseen". Writes RUN_DIR/eval.json
/// (and a copy into `out` when given).
nlohmann::json ctrl_eval(const EvalRequest& request);

/// reconstruct.png: inputs over reconstructions (seen and unseen classes).
nlohmann::json ctrl_reconstruct(const ReconstructRequest& request);

/// Reconstructions of noisy inputs x + σ·N(0, 1) (in the model's [−1, 1]
/// input space) for each λ of the CSC layers, λ changed at inference only
/// (CSC-CTRL Tables 7–8). denoise.json, denoise.png (PSNR/SSIM vs λ),
/// denoise_examples.png.
nlohmann::json ctrl_denoise(const DenoiseRequest& request);

/// Decodes normalize(α f(x₁) + (1 − α) f(x₂)) for `steps` values of α in
/// [0, 1] (CSC-CTRL eq. 17), `pairs` pairs of test images. interpolate.png.
nlohmann::json ctrl_interpolate(const InterpolateRequest& request);

/// Per class: the top principal components of its features, and the decoded
/// samples whose features align best with each (CSC-CTRL Figure 4).
/// pca_class<k>.png and pca.json (explained variance per component).
nlohmann::json ctrl_pca(const PcaRequest& request);

/// |cos| similarity of Z (and of Ẑ) sorted by class: similarity_z.png,
/// similarity_zhat.png, similarity.json (mean within/between classes).
nlohmann::json ctrl_similarity(const SimilarityRequest& request);

/// atoms.png: the first CSC layer's atoms (in image space); csc-ctrl only.
nlohmann::json ctrl_atoms(const AtomsRequest& request);

/// The training-curve panels of a closed-loop run (RUN/<file>.png).
std::vector<CurvePanel> ctrl_curves();

/// report.html (in `out`, else RUN_DIR): metrics, training curves and every
/// figure found in the run; evaluates and draws reconstructions first when
/// the run has neither.
nlohmann::json ctrl_report(const ReportRequest& request);

}  // namespace sparseloop
