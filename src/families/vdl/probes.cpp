#include "sparseloop/families/vdl/probes.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

namespace sparseloop {

double LinearProbeResult::top(int64_t k) const {
  auto it = accuracy.find(k);
  TORCH_CHECK(it != accuracy.end(), "LinearProbeResult: top-", k, " accuracy was not computed");
  return it->second;
}

double topk_accuracy(const torch::Tensor& logits, const torch::Tensor& labels, int64_t k) {
  TORCH_CHECK(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0),
              "topk_accuracy: expected logits (N, C) and labels (N,), got ", logits.sizes(),
              " and ", labels.sizes());
  if (logits.size(0) == 0) return 0.0;
  k = std::min<int64_t>(k, logits.size(1));
  auto top = std::get<1>(logits.topk(k, 1));                          // (N, k)
  auto hit = (top == labels.to(top.device()).unsqueeze(1)).any(1);    // (N,)
  return hit.to(torch::kDouble).mean().item<double>();
}

torch::Tensor first_per_class_indices(const torch::Tensor& labels, int64_t n, int64_t num_classes) {
  TORCH_CHECK(labels.dim() == 1, "first_per_class_indices: labels must be 1-D, got ", labels.sizes());
  auto lab = labels.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* p = lab.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> per(static_cast<size_t>(num_classes));
  for (int64_t i = 0; i < lab.numel(); ++i) {
    TORCH_CHECK(p[i] >= 0 && p[i] < num_classes, "first_per_class_indices: label ", p[i],
                " outside [0, ", num_classes, ")");
    auto& v = per[static_cast<size_t>(p[i])];
    if (static_cast<int64_t>(v.size()) < n) v.push_back(i);
  }
  std::vector<int64_t> out;
  for (const auto& v : per) out.insert(out.end(), v.begin(), v.end());
  return torch::tensor(out, torch::kLong);
}

namespace {

void check_pair(const torch::Tensor& x, const torch::Tensor& y, const char* what) {
  TORCH_CHECK(x.dim() == 2 && y.dim() == 1 && x.size(0) == y.size(0), "linear_probe: ", what,
              " features must be (N, F) with labels (N,), got ", x.sizes(), " and ", y.sizes());
}

/// Mean cross-entropy and logits of a feature set, in batches.
std::pair<double, torch::Tensor> evaluate(torch::nn::Linear& clf, const torch::Tensor& x,
                                          const torch::Tensor& y, torch::Device dev) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> logits;
  for (int64_t i = 0; i < x.size(0); i += 4096)
    logits.push_back(clf->forward(x.narrow(0, i, std::min<int64_t>(4096, x.size(0) - i))
                                      .to(dev, torch::kFloat)));
  auto all = logits.empty() ? torch::empty({0, clf->options.out_features()}) : torch::cat(logits);
  const double loss =
      x.size(0) ? torch::nn::functional::cross_entropy(all, y.to(dev)).item<double>() : 0.0;
  return {loss, all};
}

}  // namespace

LinearProbeResult linear_probe(const torch::Tensor& train_x, const torch::Tensor& train_y,
                               const torch::Tensor& test_x, const torch::Tensor& test_y,
                               int64_t num_classes, const LinearProbeOptions& o,
                               const torch::Tensor& val_x, const torch::Tensor& val_y) {
  check_pair(train_x, train_y, "training");
  check_pair(test_x, test_y, "test");
  TORCH_CHECK(test_x.size(1) == train_x.size(1), "linear_probe: test features have ",
              test_x.size(1), " dimensions, training features ", train_x.size(1));
  TORCH_CHECK(train_x.size(0) > 0, "linear_probe: no training samples");
  TORCH_CHECK(num_classes >= 2 && o.epochs >= 1 && o.batch_size >= 1,
              "linear_probe: num_classes >= 2, epochs >= 1 and batch_size >= 1 required");
  const bool has_val = val_x.defined() && val_x.size(0) > 0;
  if (has_val) check_pair(val_x, val_y, "validation");
  const torch::Device dev = o.device;
  const int64_t n = train_x.size(0), F = train_x.size(1);
  auto gen = at::detail::createCPUGenerator(o.seed);
  // PyTorch's Linear initialisation, U(−1/√F, 1/√F) for weight and bias, from our generator.
  torch::nn::Linear clf(torch::nn::LinearOptions(F, num_classes));
  {
    torch::NoGradGuard no_grad;
    const double bound = 1.0 / std::sqrt(static_cast<double>(F));
    clf->weight.copy_(torch::rand({num_classes, F}, gen) * (2 * bound) - bound);
    clf->bias.copy_(torch::rand({num_classes}, gen) * (2 * bound) - bound);
  }
  clf->to(dev);
  torch::optim::Adam opt(clf->parameters(),
                         torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  auto xs = train_x.to(dev, torch::kFloat);
  auto ys = train_y.to(dev, torch::kLong);
  double best_val = std::numeric_limits<double>::infinity();
  int64_t best_epoch = 0;
  std::vector<torch::Tensor> best;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    auto perm = torch::randperm(n, gen).to(dev);
    for (int64_t i = 0; i < n; i += o.batch_size) {
      auto idx = perm.narrow(0, i, std::min(o.batch_size, n - i));
      auto loss = torch::nn::functional::cross_entropy(clf->forward(xs.index_select(0, idx)),
                                                       ys.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    if (has_val && o.select_by_validation) {
      const double v = evaluate(clf, val_x, val_y, dev).first;
      if (v < best_val) {
        best_val = v;
        best_epoch = epoch;
        best.clear();
        for (const auto& p : clf->parameters()) best.push_back(p.detach().clone());
      }
    }
  }
  if (!best.empty()) {
    torch::NoGradGuard no_grad;
    auto params = clf->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best[i]);
  } else {
    best_epoch = o.epochs;
    if (has_val) best_val = evaluate(clf, val_x, val_y, dev).first;
  }
  LinearProbeResult r;
  auto [test_loss, logits] = evaluate(clf, test_x, test_y, dev);
  r.test_loss = test_loss;
  for (int64_t k : o.top_k) r.accuracy[k] = topk_accuracy(logits, test_y, k);
  r.train_accuracy = topk_accuracy(evaluate(clf, train_x, train_y, dev).second, train_y, 1);
  r.val_loss = has_val ? best_val : 0.0;
  r.epoch = best_epoch;
  r.train_size = n;
  return r;
}

std::vector<FewShotResult> few_shot_probe(const torch::Tensor& train_x, const torch::Tensor& train_y,
                                          const torch::Tensor& test_x, const torch::Tensor& test_y,
                                          int64_t num_classes, const std::vector<int64_t>& shots,
                                          const LinearProbeOptions& o, const torch::Tensor& val_x,
                                          const torch::Tensor& val_y) {
  std::vector<FewShotResult> out;
  for (int64_t s : shots) {
    TORCH_CHECK(s >= 1, "few_shot_probe: shots must be >= 1, got ", s);
    auto idx = first_per_class_indices(train_y, s, num_classes);
    FewShotResult row;
    row.shots = s;
    row.result = linear_probe(train_x.index_select(0, idx.to(train_x.device())),
                              train_y.index_select(0, idx.to(train_y.device())), test_x, test_y,
                              num_classes, o, val_x, val_y);
    out.push_back(row);
  }
  return out;
}

}  // namespace sparseloop
