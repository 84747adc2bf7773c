// Denoising by the sparse code's λ at inference (CSC-CTRL Tables 7–8; VDL's
// denoising with test-time FISTA), one routine for every family: clean
// samples get Gaussian noise in the model's input space, each method
// reconstructs them (a family's model at each λ; extra rows such as VDL's
// encoder), and PSNR, SSIM and MSE against the clean samples are measured in
// [0, 1] pixels. Writes denoise.json, denoise.png (PSNR against λ) and
// denoise_examples.png.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

struct DenoiseProblem {
  double sigma = 0.5;                 ///< noise σ in the model's input space
  std::vector<double> lambdas;        ///< λ at inference, one row each
  double trained_lambda = 0.0;        ///< marked on the figure (0: none)
  int64_t samples = 0;                ///< test samples
  int64_t batch_size = 256;
  uint64_t seed = 0;                  ///< noise: stream per batch, the same for every row
  std::string out;                    ///< folder for the files
  std::string lambda_label = "λ";     ///< the figure's x axis
  /// Clean samples [start, start + count) in the model's input space.
  std::function<torch::Tensor(int64_t start, int64_t count)> clean;
  /// Model space → [0, 1] pixels (N, C, H, W) for rows [start, …).
  std::function<torch::Tensor(const torch::Tensor& x, int64_t start)> to_pixels;
  /// Reconstructs noisy inputs with λ; returns {reconstruction, codes (or undefined)}.
  std::function<std::pair<torch::Tensor, torch::Tensor>(const torch::Tensor& noisy, double lambda)>
      reconstruct;
  /// Further methods without λ (e.g. VDL's encoder), reported by name.
  struct Method {
    std::string name;
    std::function<std::pair<torch::Tensor, torch::Tensor>(const torch::Tensor& noisy)> run;
  };
  std::vector<Method> methods;
};

/// Runs the sweep and writes its files; returns {"sigma", "samples",
/// "trained_lambda", "noisy": {psnr, ssim, mse}, "rows": [{lambda, psnr,
/// ssim, mse, sparsity}], <method name>: {…}, "figure", "examples"}.
nlohmann::json denoise_by_lambda(const DenoiseProblem& problem);

}  // namespace sparseloop
