#include "sparseloop/data/dataset.h"

#include <algorithm>
#include <cmath>

#include "sparseloop/util/random.h"

namespace sparseloop {
namespace {

void check_indices(const torch::Tensor& indices, int64_t size, const char* what) {
  TORCH_CHECK(indices.defined() && indices.dim() == 1 && indices.scalar_type() == torch::kLong,
              what, ": indices must be a 1-D int64 tensor");
  if (indices.numel() == 0) return;
  const int64_t lo = indices.min().item<int64_t>(), hi = indices.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < size, what, ": index out of range [0, ", size,
              "): ", lo < 0 ? lo : hi);
}

torch::Tensor index_tensor(const std::vector<int64_t>& idx) {
  return torch::tensor(idx, torch::kLong).reshape({static_cast<int64_t>(idx.size())});
}

}  // namespace

torch::Tensor ImageDataset::batch_float(const torch::Tensor& indices) const {
  check_indices(indices, size(), "ImageDataset::batch_float");
  return images.index_select(0, indices.cpu()).to(torch::kFloat).div_(255.0);
}

torch::Tensor ImageDataset::batch_labels(const torch::Tensor& indices) const {
  if (!labelled()) return {};
  check_indices(indices, size(), "ImageDataset::batch_labels");
  return labels.index_select(0, indices.cpu());
}

ImageDataset ImageDataset::subset(const torch::Tensor& indices) const {
  check_indices(indices, size(), "ImageDataset::subset");
  ImageDataset out = *this;
  out.images = images.index_select(0, indices.cpu()).contiguous();
  if (labelled()) out.labels = labels.index_select(0, indices.cpu()).contiguous();
  return out;
}

ImageDataset ImageDataset::spread(int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i * size() / n;  // increasing
  return subset(torch::tensor(idx));  // (n, C, H, W)
}

namespace {

/// The indices i, in order, whose label passes `take(label)`; every label is
/// checked against [0, num_classes).
template <class Take>
torch::Tensor indices_by_label(const ImageDataset& d, Take take) {
  auto lab = d.labels.contiguous();
  const int64_t* l = lab.data_ptr<int64_t>();
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < d.size(); ++i) {
    TORCH_CHECK(l[i] >= 0 && l[i] < d.num_classes, "ImageDataset: label ", l[i], " at ", i,
                " out of range [0, ", d.num_classes, ")");
    if (take(l[i])) idx.push_back(i);
  }
  return index_tensor(idx);
}

}  // namespace

ImageDataset ImageDataset::with_classes(const std::vector<int64_t>& classes) const {
  TORCH_CHECK(labelled(), "ImageDataset::with_classes: '", name, "' has no labels");
  std::vector<bool> keep(static_cast<size_t>(std::max<int64_t>(num_classes, 0)), false);
  for (int64_t c : classes) {
    TORCH_CHECK(c >= 0 && c < num_classes, "ImageDataset::with_classes: class ", c,
                " out of range [0, ", num_classes, ")");
    keep[static_cast<size_t>(c)] = true;
  }
  return subset(indices_by_label(*this, [&](int64_t c) { return keep[static_cast<size_t>(c)]; }));
}

ImageDataset ImageDataset::first_per_class(int64_t n) const {
  TORCH_CHECK(labelled(), "ImageDataset::first_per_class: '", name, "' has no labels");
  TORCH_CHECK(n >= 0, "ImageDataset::first_per_class: n must be >= 0, got ", n);
  std::vector<int64_t> taken(static_cast<size_t>(std::max<int64_t>(num_classes, 0)), 0);
  return subset(indices_by_label(*this, [&](int64_t c) {
    auto& t = taken[static_cast<size_t>(c)];
    return t < n ? (++t, true) : false;
  }));
}

DataSplits split_dataset(const ImageDataset& data, double train_fraction, uint64_t seed) {
  TORCH_CHECK(train_fraction >= 0.0 && train_fraction <= 1.0,
              "split_dataset: train_fraction must be in [0, 1], got ", train_fraction);
  std::vector<int64_t> train, val;
  auto take = [&](const std::vector<int64_t>& members, uint64_t s) {
    const auto perm = seeded_permutation(static_cast<int64_t>(members.size()), s);
    const auto n_train = static_cast<size_t>(std::llround(train_fraction * members.size()));
    for (size_t i = 0; i < perm.size(); ++i)
      (i < n_train ? train : val).push_back(members[static_cast<size_t>(perm[i])]);
  };
  if (data.labelled()) {
    // Stratified: every class keeps the same train fraction.
    std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(data.num_classes));
    auto lab = data.labels.contiguous();
    const int64_t* l = lab.data_ptr<int64_t>();
    for (int64_t i = 0; i < data.size(); ++i) {
      TORCH_CHECK(l[i] >= 0 && l[i] < data.num_classes, "split_dataset: label ", l[i],
                  " out of range [0, ", data.num_classes, ")");
      by_class[static_cast<size_t>(l[i])].push_back(i);
    }
    for (size_t c = 0; c < by_class.size(); ++c) take(by_class[c], mix_seed(seed, c));
  } else {
    std::vector<int64_t> all(static_cast<size_t>(data.size()));
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    take(all, seed);
  }
  // Keep the original order inside each split: reproducible and cache-friendly.
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
  return {data.subset(index_tensor(train)), data.subset(index_tensor(val))};
}

}  // namespace sparseloop
