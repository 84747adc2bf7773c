#include "sparseloop/families/ctrl/nearest_subspace.h"

namespace sparseloop {

NearestSubspace fit_nearest_subspace(const torch::Tensor& features, const torch::Tensor& labels,
                                     int64_t num_classes, int64_t components, bool centred) {
  TORCH_CHECK(features.dim() == 2 && labels.dim() == 1 && labels.size(0) == features.size(0),
              "nearest subspace: features (n, d) and labels (n,), got ", features.sizes(), " and ",
              labels.sizes());
  auto z = features.to(torch::kDouble).cpu();
  auto y = labels.to(torch::kLong).cpu();
  const int64_t d = z.size(1);
  const int64_t k = std::min(components, d);
  NearestSubspace m;
  m.bases = torch::zeros({num_classes, d, k}, torch::kDouble);
  m.means = torch::zeros({num_classes, d}, torch::kDouble);
  for (int64_t j = 0; j < num_classes; ++j) {
    auto zj = z.index_select(0, (y == j).nonzero().squeeze(1));  // (n_j, d)
    if (zj.size(0) == 0) continue;
    if (centred) {
      m.means[j] = zj.mean(0);
      zj = zj - m.means[j];
    }
    // Right singular vectors = principal directions of the class.
    auto svd = torch::linalg_svd(zj, /*full_matrices=*/false);
    auto vh = std::get<2>(svd);                                  // (r, d), r = min(n_j, d)
    const int64_t kj = std::min(k, vh.size(0));
    m.bases[j].narrow(1, 0, kj).copy_(vh.narrow(0, 0, kj).t());  // (d, kj)
  }
  return m;
}

torch::Tensor predict_nearest_subspace(const NearestSubspace& m, const torch::Tensor& features) {
  auto z = features.to(torch::kDouble).cpu();                    // (n, d)
  const int64_t K = m.bases.size(0);
  auto scores = torch::empty({z.size(0), K}, torch::kDouble);
  for (int64_t j = 0; j < K; ++j) {
    auto c = z - m.means[j];                                      // (n, d)
    auto proj = c.matmul(m.bases[j]).matmul(m.bases[j].t());      // (n, d)
    scores.select(1, j).copy_((c - proj).norm(2, 1));
  }
  return scores.argmin(1);                                        // (n,)
}

double nearest_subspace_accuracy(const torch::Tensor& train_z, const torch::Tensor& train_y,
                                 const torch::Tensor& test_z, const torch::Tensor& test_y,
                                 int64_t num_classes, int64_t components, bool centred) {
  auto model = fit_nearest_subspace(train_z, train_y, num_classes, components, centred);
  auto pred = predict_nearest_subspace(model, test_z);
  return (pred == test_y.to(torch::kLong).cpu()).to(torch::kDouble).mean().item<double>();
}

}  // namespace sparseloop
