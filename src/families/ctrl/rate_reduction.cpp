#include "sparseloop/families/ctrl/rate_reduction.h"

#include <sstream>

#include "sparseloop/util/error.h"

namespace sparseloop {
namespace {

torch::Tensor normalize_rows(const torch::Tensor& z) {
  return z / z.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);  // (n, d)
}

void check_features(const torch::Tensor& z, const char* what) {
  TORCH_CHECK(z.dim() == 2, what, ": features must be (n, d), got shape ", z.sizes());
  TORCH_CHECK(z.size(0) > 0 && z.size(1) > 0, what, ": empty features ", z.sizes());
}

}  // namespace

torch::Tensor logdet_identity_plus_gram(const torch::Tensor& z, double a) {
  const int64_t n = z.size(0), d = z.size(1);
  // The smaller Gram: (n, n) when n < d, else (d, d).
  auto gram = n < d ? torch::matmul(z, z.t()) : torch::matmul(z.t(), z);
  const int64_t m = gram.size(0);
  auto mat = torch::eye(m, z.options()) + a * gram;  // (m, m), SPD for finite z
  auto result = torch::linalg_cholesky_ex(mat);
  auto chol = std::get<0>(result);
  auto info = std::get<1>(result);
  if (info.item<int64_t>() != 0 || !torch::isfinite(chol).all().item<bool>()) {
    std::ostringstream msg;
    msg << "rate reduction: I + a·Gram of features " << z.sizes()
        << " is not positive definite (features contain NaN or Inf?)";
    throw NumericalError(msg.str());
  }
  return 2.0 * chol.diagonal().log().sum();
}

torch::Tensor coding_rate(const torch::Tensor& z, double eps_sq, bool normalize) {
  check_features(z, "coding_rate");
  auto zn = normalize ? normalize_rows(z) : z;
  const double n = static_cast<double>(z.size(0)), d = static_cast<double>(z.size(1));
  return 0.5 * logdet_identity_plus_gram(zn, d / (n * eps_sq));
}

torch::Tensor class_coding_rate(const torch::Tensor& z, const torch::Tensor& labels,
                                int64_t num_classes, double eps_sq, bool normalize) {
  check_features(z, "class_coding_rate");
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == z.size(0),
              "class_coding_rate: labels must be (", z.size(0), "), got ", labels.sizes());
  auto zn = normalize ? normalize_rows(z) : z;
  const double n = static_cast<double>(z.size(0)), d = static_cast<double>(z.size(1));
  auto labels_cpu = labels.to(torch::kCPU).to(torch::kLong);
  auto total = torch::zeros({}, z.options());
  for (int64_t j = 0; j < num_classes; ++j) {
    auto idx = (labels_cpu == j).nonzero().squeeze(1);
    const int64_t nj = idx.numel();
    if (nj == 0) continue;
    auto zj = zn.index_select(0, idx.to(z.device()));  // (n_j, d)
    total = total + (static_cast<double>(nj) / (2.0 * n)) *
                        logdet_identity_plus_gram(zj, d / (static_cast<double>(nj) * eps_sq));
  }
  return total;
}

torch::Tensor rate_reduction(const torch::Tensor& z, const torch::Tensor& z_hat, double eps_sq,
                             bool normalize) {
  check_features(z, "rate_reduction");
  check_features(z_hat, "rate_reduction");
  TORCH_CHECK(z.size(1) == z_hat.size(1), "rate_reduction: feature dims differ: ", z.sizes(),
              " vs ", z_hat.sizes());
  auto zn = normalize ? normalize_rows(z) : z;
  auto zh = normalize ? normalize_rows(z_hat) : z_hat;
  auto both = torch::cat({zn, zh}, 0);  // (n + n̂, d)
  return coding_rate(both, eps_sq, false) -
         0.5 * (coding_rate(zn, eps_sq, false) + coding_rate(zh, eps_sq, false));
}

torch::Tensor samplewise_rate_reduction(const torch::Tensor& z, const torch::Tensor& z_hat,
                                        double eps_sq, bool normalize) {
  check_features(z, "samplewise_rate_reduction");
  check_features(z_hat, "samplewise_rate_reduction");
  TORCH_CHECK(z.sizes() == z_hat.sizes(), "samplewise_rate_reduction: shapes differ: ", z.sizes(),
              " vs ", z_hat.sizes());
  auto zn = normalize ? normalize_rows(z) : z;
  auto zh = normalize ? normalize_rows(z_hat) : z_hat;
  // The two-point Gram [[1, c], [c, 1]] has eigenvalues 1 ± c, so the logdet
  // is closed-form: no n tiny Cholesky factorizations. The clamp keeps 1 − c
  // ≥ 0 where rounding makes |c| exceed 1 by an ulp.
  const double a = static_cast<double>(z.size(1)) / (2.0 * eps_sq);
  auto c = (zn * zh).sum(1).clamp(-1.0, 1.0);  // (n,) cosines
  auto pair = 0.5 * (torch::log1p(a * (1.0 + c)) + torch::log1p(a * (1.0 - c)));  // R({z_i, ẑ_i})
  return pair.mean() - 0.5 * std::log1p(2.0 * a);  // − ½(R(z_i) + R(ẑ_i)), each ½ log(1 + 2a)
}

namespace {

/// The rate terms (CTRL eq. 5 / its unlabelled form), without the sample-wise term.
ClosedLoopTerms rate_terms(const torch::Tensor& z, const torch::Tensor& z_hat,
                           const torch::Tensor& labels, int64_t num_classes, double eps_sq) {
  check_features(z, "closed_loop_objective");
  check_features(z_hat, "closed_loop_objective");
  ClosedLoopTerms t;
  auto zn = normalize_rows(z);
  auto zh = normalize_rows(z_hat);
  t.rate_z = coding_rate(zn, eps_sq, false);
  t.rate_z_hat = coding_rate(zh, eps_sq, false);
  if (!labels.defined()) {
    auto both = torch::cat({zn, zh}, 0);  // (2n, d)
    t.delta = coding_rate(both, eps_sq, false) - 0.5 * (t.rate_z + t.rate_z_hat);
    t.objective = t.delta;
    return t;
  }
  TORCH_CHECK(num_classes > 0, "closed_loop_objective: num_classes must be > 0 with labels");
  t.class_rate_z = class_coding_rate(zn, labels, num_classes, eps_sq, false);
  t.class_rate_z_hat = class_coding_rate(zh, labels, num_classes, eps_sq, false);
  auto labels_cpu = labels.to(torch::kCPU).to(torch::kLong);
  auto delta = torch::zeros({}, z.options());
  for (int64_t j = 0; j < num_classes; ++j) {
    auto idx = (labels_cpu == j).nonzero().squeeze(1).to(z.device());
    if (idx.numel() == 0) continue;
    delta = delta + rate_reduction(zn.index_select(0, idx), zh.index_select(0, idx), eps_sq, false);
  }
  t.delta = delta;
  t.objective = t.rate_z - t.class_rate_z + t.rate_z_hat - t.class_rate_z_hat + t.delta;
  return t;
}

}  // namespace

ClosedLoopTerms closed_loop_objective(const torch::Tensor& z, const torch::Tensor& z_hat,
                                      const torch::Tensor& labels, int64_t num_classes,
                                      double eps_sq, double sample_weight) {
  ClosedLoopTerms t = rate_terms(z, z_hat, labels, num_classes, eps_sq);
  if (sample_weight > 0) {
    t.sample_delta = samplewise_rate_reduction(z, z_hat, eps_sq);
    t.objective = t.objective + sample_weight * t.sample_delta;
  }
  return t;
}

}  // namespace sparseloop
