// Evaluation and pictures of a trained closed-loop run (CLI.md `eval`,
// `reconstruct`, `denoise`, `interpolate`, `pca`, `similarity`, `report`).
// Each function loads RUN_DIR's model, works on the test split (or another
// dataset of the same image size), writes its PNG/JSON files into
// `options.out` and returns its JSON result.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

struct CtrlAnalysisOptions {
  std::string checkpoint = "best";  ///< best | final | step-XXXXXXXX
  std::string data, data_dir;       ///< override the run's dataset (same channels and size)
  std::string out;                  ///< output folder (created)
  int64_t batch_size = 256;
  int64_t limit = 0;                ///< at most this many test images (0: all)
  torch::Device device = torch::kCPU;
  uint64_t seed = 0;
};

/// PSNR, SSIM, MSE of X̂ = g(f(X)) against X, code sparsity, consistency
/// accuracy (the independent classifier on X̂), nearest-subspace accuracy of
/// the features; FID and Inception Score when `inception` names a
/// TorchScript network. For runs trained on a subset of classes, the same
/// metrics on the unseen classes under "unseen". Writes RUN_DIR/eval.json.
nlohmann::json evaluate_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& options,
                             const std::string& inception = "");

/// reconstruct.png: inputs over reconstructions (seen and unseen classes).
nlohmann::json reconstruct_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& options,
                                int64_t count);

/// Reconstructions of noisy inputs x + σ·N(0, 1) (in the model's [−1, 1]
/// input space) for each λ of the CSC layers, λ changed at inference only
/// (CSC-CTRL Tables 7–8). denoise.json, denoise.png (PSNR/SSIM vs λ),
/// denoise_examples.png.
nlohmann::json denoise_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& options,
                            double sigma, const std::vector<double>& lambdas);

/// Decodes normalize(α f(x₁) + (1 − α) f(x₂)) for `steps` values of α in
/// [0, 1] (CSC-CTRL eq. 17), `pairs` pairs of test images. interpolate.png.
nlohmann::json interpolate_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& options,
                                int64_t pairs, int64_t steps);

/// Per class: the top principal components of its features, and the decoded
/// samples whose features align best with each (CSC-CTRL Figure 4).
/// pca_class<k>.png and pca.json (explained variance per component).
nlohmann::json pca_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& options,
                        int64_t components, int64_t per_component);

/// |cos| similarity of Z (and of Ẑ) sorted by class: similarity_z.png,
/// similarity_zhat.png, similarity.json (mean within/between classes).
nlohmann::json similarity_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& options);

/// report.html: metrics, training curves, and every figure found in the run.
nlohmann::json report_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& options);

}  // namespace sparseloop
