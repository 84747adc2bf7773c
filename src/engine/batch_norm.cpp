#include "sparseloop/engine/batch_norm.h"

#include "sparseloop/util/distributed.h"

namespace sparseloop {
SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(const torch::nn::BatchNormOptions& options)
    : options(options) {
  reset();
}

void SyncBatchNorm2dImpl::reset() {
  // BatchNorm2d's parameters and buffers, under its names, so checkpoints of
  // either load into the other.
  const int64_t C = options.num_features();
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({C}));  // (C,)
    bias = register_parameter("bias", torch::zeros({C}));     // (C,)
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({C}));
    running_var = register_buffer("running_var", torch::ones({C}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  }
}

void SyncBatchNorm2dImpl::reset_running_stats() {
  if (!options.track_running_stats()) return;
  torch::NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

void SyncBatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "sparseloop::SyncBatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=" << options.momentum().value_or(0.0) << ", affine=" << options.affine()
         << ", track_running_stats=" << options.track_running_stats() << ")";
}

torch::Tensor SyncBatchNorm2dImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.num_features(),
              "SyncBatchNorm2d: expected input (B, ", options.num_features(), ", H, W), got ",
              x.sizes());
  if (!is_training() || !distributed()) {
    // One process: exactly BatchNorm2d's forward (torch::nn::BatchNormImplBase).
    double f = 0.0;
    if (is_training() && options.track_running_stats()) {
      num_batches_tracked.add_(1);
      f = options.momentum().has_value() ? options.momentum().value()
                                         : 1.0 / num_batches_tracked.item<double>();
    }
    return torch::batch_norm(x, weight, bias, running_mean, running_var,
                             is_training() || !options.track_running_stats(), f, options.eps(),
                             at::globalContext().userEnabledCuDNN());
  }
  const int64_t C = x.size(1);
  const auto per_channel = [C](const torch::Tensor& t) { return t.view({1, C, 1, 1}); };
  // Pass 1: the global count and sum per channel (one collective).
  auto local = torch::cat({x.sum({0, 2, 3}),                                       // (C,)
                           torch::full({1}, static_cast<double>(x.numel() / C), x.options())});
  auto total = allreduce_sum_grad(local);                                           // (C + 1,)
  const double n = total[C].item<double>();
  TORCH_CHECK(n > 1, "SyncBatchNorm2d: needs more than one value per channel, got ", n);
  auto mean = total.narrow(0, 0, C) / n;                                            // (C,)
  // Pass 2: the global sum of squared deviations (two passes, as a single
  // process computes the batch variance, rather than E[x²] − E[x]²).
  auto centered = x - per_channel(mean);                                            // (B, C, H, W)
  auto var = allreduce_sum_grad(centered.pow(2).sum({0, 2, 3})) / n;               // (C,) biased
  auto y = centered * per_channel(torch::rsqrt(var + options.eps()));
  if (options.affine()) y = y * per_channel(weight) + per_channel(bias);
  if (options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    const double f = options.momentum().has_value()
                         ? options.momentum().value()
                         : 1.0 / num_batches_tracked.item<double>();  // cumulative average
    running_mean.mul_(1 - f).add_(mean.detach(), f);
    running_var.mul_(1 - f).add_(var.detach() * (n / (n - 1)), f);  // unbiased, as BatchNorm
  }
  return y;
}

void recalibrate_batch_norm(torch::nn::Module& model, const std::vector<torch::Tensor>& batches,
                            const std::function<void(const torch::Tensor&)>& forward) {
  // The BatchNorm kinds the library's models use; their options (and so
  // their momentum) have the same type.
  struct Norm {
    std::function<void()> reset;
    torch::nn::BatchNormOptions* options;
  };
  std::vector<Norm> norms;
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* sync = m->as<SyncBatchNorm2d>())
      norms.push_back({[sync] { sync->reset_running_stats(); }, &sync->options});
    else if (auto* bn = m->as<torch::nn::BatchNorm2d>())
      norms.push_back({[bn] { bn->reset_running_stats(); }, &bn->options});
    else if (auto* bn1 = m->as<torch::nn::BatchNorm1d>())
      norms.push_back({[bn1] { bn1->reset_running_stats(); }, &bn1->options});
  }
  if (norms.empty() || batches.empty()) return;
  const bool was_training = model.is_training();
  std::vector<c10::optional<double>> momenta;
  for (auto& n : norms) {
    momenta.push_back(n.options->momentum());
    n.reset();
    n.options->momentum(c10::nullopt);  // running stats = plain average over the passes
  }
  model.train();
  {
    torch::NoGradGuard no_grad;
    LocalScope local;  // every rank passes the same batches
    for (const auto& x : batches) forward(x);
  }
  for (size_t i = 0; i < norms.size(); ++i) norms[i].options->momentum(momenta[i]);
  model.train(was_training);
}

}  // namespace sparseloop
