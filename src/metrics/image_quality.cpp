#include "sparseloop/metrics/image_quality.h"

#include <cmath>
#include <limits>

namespace sparseloop {

static void check_pair(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  TORCH_CHECK(a.sizes() == b.sizes(), what, ": shapes differ: ", a.sizes(), " vs ", b.sizes());
}

double mse(const torch::Tensor& estimate, const torch::Tensor& reference) {
  check_pair(estimate, reference, "mse");
  return (estimate.to(torch::kDouble) - reference.to(torch::kDouble)).pow(2).mean().item<double>();
}

double psnr(const torch::Tensor& estimate, const torch::Tensor& reference, double peak) {
  const double m = mse(estimate, reference);
  if (m <= 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(peak * peak / m);
}

torch::Tensor psnr_per_sample(const torch::Tensor& estimate, const torch::Tensor& reference,
                              double peak) {
  check_pair(estimate, reference, "psnr_per_sample");
  auto d = (estimate.to(torch::kDouble) - reference.to(torch::kDouble));
  auto m = d.reshape({d.size(0), -1}).pow(2).mean(1);  // (B,)
  return 10.0 * torch::log10(peak * peak / m);
}

torch::Tensor ssim_per_sample(const torch::Tensor& estimate, const torch::Tensor& reference,
                              double data_range) {
  check_pair(estimate, reference, "ssim");
  TORCH_CHECK(estimate.dim() == 4, "ssim: expected images (B, C, H, W), got ", estimate.sizes());
  auto x = estimate.to(torch::kDouble);
  auto y = reference.to(torch::kDouble);
  const int64_t win = std::min<int64_t>({11, x.size(2), x.size(3)});
  const double sigma = 1.5;
  auto coords = torch::arange(win, torch::kDouble) - (win - 1) / 2.0;
  auto g = torch::exp(-coords.pow(2) / (2 * sigma * sigma));
  g = g / g.sum();
  // The Gaussian window is separable (outer(g, g)), so each local mean is
  // `win` shifted multiply-adds along the rows, then `win` along the columns.
  // The depthwise conv2d this replaces went to LibTorch's float64 im2col path:
  // 121 copies of every pixel, ≈ 1 GB per filter on 2 000 crops, 20 filters
  // per `eval` — 19 GB of fresh pages, 15 s of kernel time (issue 14).
  const std::vector<double> gv(g.data_ptr<double>(), g.data_ptr<double>() + win);
  auto filt = [&](const torch::Tensor& t) {
    const int64_t Ho = t.size(2) - win + 1, Wo = t.size(3) - win + 1;
    auto rows = t.narrow(3, 0, Wo) * gv[0];                      // (B, C, H, Wo)
    for (int64_t k = 1; k < win; ++k) rows.add_(t.narrow(3, k, Wo), gv[k]);
    auto out = rows.narrow(2, 0, Ho) * gv[0];                    // (B, C, Ho, Wo)
    for (int64_t k = 1; k < win; ++k) out.add_(rows.narrow(2, k, Ho), gv[k]);
    return out;
  };
  const double c1 = std::pow(0.01 * data_range, 2), c2 = std::pow(0.03 * data_range, 2);
  auto mx = filt(x), my = filt(y);                     // (B, C, H', W') valid windows
  auto sxx = filt(x * x) - mx * mx;
  auto syy = filt(y * y) - my * my;
  auto sxy = filt(x * y) - mx * my;
  auto map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
  return map.reshape({map.size(0), -1}).mean(1);      // (B,)
}

double ssim(const torch::Tensor& estimate, const torch::Tensor& reference, double data_range) {
  return ssim_per_sample(estimate, reference, data_range).mean().item<double>();
}

torch::Tensor mean_colour_baseline(const torch::Tensor& images) {
  return images.mean({2, 3}, /*keepdim=*/true).expand_as(images).contiguous();  // (B, C, 1, 1) → (B, C, H, W)
}

torch::Tensor thumbnail_baseline(const torch::Tensor& images, int64_t side) {
  namespace F = torch::nn::functional;
  TORCH_CHECK(side >= 1, "thumbnail_baseline: side must be >= 1");
  auto x = images.to(torch::kFloat);
  auto small = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(side));  // (B, C, s, s)
  return F::interpolate(small, F::InterpolateFuncOptions()
                                   .size(std::vector<int64_t>{images.size(2), images.size(3)})
                                   .mode(torch::kBilinear)
                                   .align_corners(false))
      .to(images.scalar_type());  // (B, C, H, W)
}

}  // namespace sparseloop
