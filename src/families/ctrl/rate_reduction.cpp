#include "sparseloop/families/ctrl/rate_reduction.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "sparseloop/util/blas_product.h"
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

/// logdet(I + a·Gram) = 2·Σ log diag(chol) of one Gram (m, m) or a batch
/// (K, m, m) with per-matrix scales a (K,): shape () or (K,). Throws
/// NumericalError naming `what` and the features' shape when a matrix is not
/// positive definite (NaN/Inf features) instead of returning NaN.
torch::Tensor logdet_identity_plus(const torch::Tensor& gram, const torch::Tensor& a,
                                   const char* what, const torch::Tensor& features) {
  const bool batched = gram.dim() == 3;
  auto scale = batched ? a.view({-1, 1, 1}) : a;
  auto mat = torch::eye(gram.size(-1), gram.options()) + scale * gram;  // SPD for finite features
  auto result = torch::linalg_cholesky_ex(mat);
  auto chol = std::get<0>(result);
  // Cholesky's failure flags and the factor's finiteness in one device read.
  if ((std::get<1>(result).ne(0).any() | torch::isfinite(chol).all().logical_not()).item<bool>()) {
    std::ostringstream msg;
    msg << "rate reduction: I + a·Gram of " << what << " " << features.sizes()
        << " is not positive definite (features contain NaN or Inf?)";
    throw NumericalError(msg.str());
  }
  return 2.0 * chol.diagonal(0, -2, -1).log().sum(-1);
}

}  // namespace

torch::Tensor logdet_identity_plus_gram(const torch::Tensor& z, double a) {
  const int64_t n = z.size(0), d = z.size(1);
  // The smaller Gram: (n, n) when n < d, else (d, d).
  auto gram = n < d ? blas_mm(z, z.t()) : blas_mm(z.t(), z);  // beta = 1: util/blas_product.h
  return logdet_identity_plus(gram, torch::scalar_tensor(a, z.options()), "features", z);
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

/// The labelled terms R_c(Z), R_c(Ẑ) and Σ_j ΔR(Z_j, Ẑ_j) with every class
/// at once: one batched Cholesky per kind of term instead of 5 small
/// factorizations per class. Each class's logdet(I + d/(n_jε²)·Z_jᵀZ_j)
/// serves both R_c and ΔR's ½(R(Z_j) + R(Ẑ_j)). Classes are zero-padded to
/// the largest one's w rows: a zero row adds an identity row and column to
/// the rows×rows Gram and nothing to the d×d one, so logdets are unchanged.
/// With 10 classes the loop form was ≈ 1 000 small tensor operations per
/// objective (docs/performance.md, CSC-CTRL step).
void class_terms(const torch::Tensor& zn, const torch::Tensor& zh, const torch::Tensor& labels,
                 int64_t num_classes, double eps_sq, ClosedLoopTerms& t) {
  const int64_t n = zn.size(0), d = zn.size(1);
  auto labels_cpu = labels.to(torch::kCPU).to(torch::kLong).contiguous();
  const int64_t* lp = labels_cpu.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> rows(num_classes);
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(lp[i] >= 0 && lp[i] < num_classes, "closed_loop_objective: label ", lp[i],
                " outside [0, ", num_classes, ")");
    rows[lp[i]].push_back(i);
  }
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.size());
  // Row indices into S = [Z; Ẑ; 0] (2n + 1, d): class j's features, then
  // padding (the zero row 2n); its reconstructions' are the same plus n.
  std::vector<int64_t> iz, ih, counts;
  for (const auto& r : rows) {
    if (r.empty()) continue;  // an absent class adds 0 to every term
    counts.push_back(static_cast<int64_t>(r.size()));
    for (size_t k = 0; k < width; ++k) {
      iz.push_back(k < r.size() ? r[k] : 2 * n);
      ih.push_back(k < r.size() ? n + r[k] : 2 * n);
    }
  }
  const int64_t K = static_cast<int64_t>(counts.size()), w = static_cast<int64_t>(width);
  auto index_z = torch::tensor(iz, torch::kLong).to(zn.device()).view({K, w});   // (K, w)
  auto index_h = torch::tensor(ih, torch::kLong).to(zn.device()).view({K, w});   // (K, w)
  auto index_both = torch::cat({index_z, index_h}, 1);                          // (K, 2w)
  auto nj = torch::tensor(counts, torch::kDouble).to(zn.options());             // (K,)
  auto a = static_cast<double>(d) / (nj * eps_sq);                               // (K,)
  auto stacked = torch::cat({zn, zh, torch::zeros({1, d}, zn.options())}, 0);  // (2n+1, d)
  torch::Tensor lz, lh, lboth;
  if (2 * w < d) {
    // Every class's rows×rows Gram is a block of the whole batch's: one GEMM
    // and gathers (CPU bmm on blocks this small loops per block, with an
    // autograd node per slice in its backward).
    auto gram = blas_mm(stacked, stacked.t());  // (2n+1, 2n+1)
    auto block = [&](const torch::Tensor& idx) {      // (K, m) → (K, m, m)
      return gram.index({idx.unsqueeze(2), idx.unsqueeze(1)});
    };
    lz = logdet_identity_plus(block(index_z), a, "per-class features", stacked);
    lh = logdet_identity_plus(block(index_h), a, "per-class features", stacked);
    lboth = logdet_identity_plus(block(index_both), a / 2.0, "per-class features",
                                 stacked);  // n = 2n_j
  } else {
    // Large classes: the d×d Grams Z_jᵀZ_j (padding rows add nothing).
    auto gather = [&](const torch::Tensor& idx) {  // (K, m) → (K, m, d)
      return stacked.index_select(0, idx.flatten()).view({K, idx.size(1), d});
    };
    auto pz = gather(index_z), ph = gather(index_h);
    auto gz = torch::matmul(pz.transpose(1, 2), pz), gh = torch::matmul(ph.transpose(1, 2), ph);
    lz = logdet_identity_plus(gz, a, "per-class features", stacked);
    lh = logdet_identity_plus(gh, a, "per-class features", stacked);
    lboth = logdet_identity_plus(gz + gh, a / 2.0, "per-class features",
                                 stacked);  // Z_jᵀZ_j + Ẑ_jᵀẐ_j
  }
  auto share = nj / (2.0 * static_cast<double>(n));  // n_j / 2n
  t.class_rate_z = (share * lz).sum();
  t.class_rate_z_hat = (share * lh).sum();
  // ΔR(Z_j, Ẑ_j) = ½ L(Z_j ∪ Ẑ_j) − ½(½ L(Z_j) + ½ L(Ẑ_j))
  t.delta = (0.5 * lboth - 0.25 * (lz + lh)).sum();
}

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
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == z.size(0),
              "closed_loop_objective: labels must be (", z.size(0), "), got ", labels.sizes());
  class_terms(zn, zh, labels, num_classes, eps_sq, t);
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
