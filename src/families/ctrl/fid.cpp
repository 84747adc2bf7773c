#include "sparseloop/families/ctrl/fid.h"

#include <cmath>

namespace sparseloop {

GaussianStats gaussian_stats(const torch::Tensor& features) {
  TORCH_CHECK(features.dim() == 2 && features.size(0) >= 2,
              "gaussian_stats: need features (n ≥ 2, d), got ", features.sizes());
  auto f = features.to(torch::kDouble).cpu();
  GaussianStats s;
  s.mean = f.mean(0);
  auto c = f - s.mean;                                        // (n, d)
  s.covariance = c.t().matmul(c) / static_cast<double>(f.size(0) - 1);
  return s;
}

namespace {
/// Symmetric PSD square root by eigendecomposition (negative rounding clipped).
torch::Tensor sqrt_psd(const torch::Tensor& m) {
  auto eig = torch::linalg_eigh(0.5 * (m + m.t()));
  auto vals = std::get<0>(eig).clamp_min(0).sqrt();
  auto vecs = std::get<1>(eig);
  return vecs.matmul(torch::diag(vals)).matmul(vecs.t());
}
}  // namespace

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  TORCH_CHECK(a.mean.sizes() == b.mean.sizes(), "frechet_distance: dimensions differ");
  auto diff = (a.mean - b.mean).pow(2).sum().item<double>();
  auto root_a = sqrt_psd(a.covariance);
  auto inner = root_a.matmul(b.covariance).matmul(root_a);
  auto eigs = torch::linalg_eigvalsh(0.5 * (inner + inner.t())).clamp_min(0);
  const double tr_sqrt = eigs.sqrt().sum().item<double>();
  return diff + a.covariance.trace().item<double>() + b.covariance.trace().item<double>() -
         2.0 * tr_sqrt;
}

std::pair<double, double> inception_score(const torch::Tensor& logits, int64_t splits) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(0) >= splits && splits >= 1,
              "inception_score: need logits (n ≥ splits, K), got ", logits.sizes());
  auto logp = torch::log_softmax(logits.to(torch::kDouble).cpu(), 1);  // (n, K)
  const int64_t n = logp.size(0);
  std::vector<double> scores;
  for (int64_t s = 0; s < splits; ++s) {
    const int64_t lo = s * n / splits, hi = (s + 1) * n / splits;
    auto part = logp.narrow(0, lo, hi - lo);
    auto p = part.exp();
    auto log_py = p.mean(0).log();                                    // (K,)
    auto kl = (p * (part - log_py)).sum(1).mean().item<double>();
    scores.push_back(std::exp(kl));
  }
  double mean = 0, var = 0;
  for (double v : scores) mean += v;
  mean /= scores.size();
  for (double v : scores) var += (v - mean) * (v - mean);
  return {mean, std::sqrt(var / scores.size())};
}

}  // namespace sparseloop
