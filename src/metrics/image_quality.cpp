#include "sparseloop/metrics/image_quality.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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
  // On the CPU whatever the device: a few planes of arithmetic.
  const auto x = estimate.to(torch::kCPU, torch::kDouble).contiguous();  // (B, C, H, W)
  const auto y = reference.to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t win = std::min<int64_t>({11, H, W});
  const double sigma = 1.5;
  std::vector<double> g(win);
  double gsum = 0;
  for (int64_t k = 0; k < win; ++k) {
    const double c = k - (win - 1) / 2.0;
    g[k] = std::exp(-c * c / (2 * sigma * sigma));
    gsum += g[k];
  }
  for (auto& v : g) v /= gsum;
  const double c1 = std::pow(0.01 * data_range, 2), c2 = std::pow(0.03 * data_range, 2);
  const int64_t Ho = H - win + 1, Wo = W - win + 1;
  auto out = torch::empty({B}, torch::kDouble);  // (B,)
  const double* xp = x.data_ptr<double>();
  const double* yp = y.data_ptr<double>();
  double* op = out.data_ptr<double>();
  // The Gaussian window is separable (outer(g, g)): each local mean is `win`
  // multiply-adds along the rows, then `win` along the columns, here for the
  // five moments of one plane at once while it sits in cache. The depthwise
  // conv2d of the first version went to LibTorch's float64 im2col path (121
  // copies of every pixel, 15 s of page faults per `eval` on 2 000 crops,
  // issue 14); tensor ops over the batch then made 22 passes per moment, 8 %
  // of a CSC-CTRL validation.
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<double> rows(5 * H * Wo);  // moments filtered along the rows: (5, H, Wo)
    for (int64_t b = b0; b < b1; ++b) {
      double total = 0;
      for (int64_t c = 0; c < C; ++c) {
        const double* xs = xp + (b * C + c) * H * W;
        const double* ys = yp + (b * C + c) * H * W;
        for (int64_t h = 0; h < H; ++h) {
          for (int64_t w = 0; w < Wo; ++w) {
            double m[5] = {0, 0, 0, 0, 0};
            for (int64_t k = 0; k < win; ++k) {
              const double xv = xs[h * W + w + k], yv = ys[h * W + w + k], gk = g[k];
              m[0] += gk * xv;
              m[1] += gk * yv;
              m[2] += gk * xv * xv;
              m[3] += gk * yv * yv;
              m[4] += gk * xv * yv;
            }
            for (int q = 0; q < 5; ++q) rows[(q * H + h) * Wo + w] = m[q];
          }
        }
        for (int64_t h = 0; h < Ho; ++h) {
          for (int64_t w = 0; w < Wo; ++w) {
            double m[5] = {0, 0, 0, 0, 0};
            for (int64_t k = 0; k < win; ++k)
              for (int q = 0; q < 5; ++q) m[q] += g[k] * rows[(q * H + h + k) * Wo + w];
            const double mx = m[0], my = m[1];
            const double sxx = m[2] - mx * mx, syy = m[3] - my * my, sxy = m[4] - mx * my;
            total += ((2 * mx * my + c1) * (2 * sxy + c2)) /
                     ((mx * mx + my * my + c1) * (sxx + syy + c2));
          }
        }
      }
      op[b] = total / static_cast<double>(C * Ho * Wo);
    }
  });
  return out;
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
