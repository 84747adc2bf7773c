#include "sparseloop/engine/batch_norm.h"

#include "sparseloop/engine/batch_norm_activation.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/random.h"

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

torch::Tensor SyncBatchNorm2dImpl::forward_leaky_relu(const torch::Tensor& x,
                                                      double negative_slope) {
  if (!is_training() || distributed() || !batch_norm_leaky_relu_takes(x) ||
      x.size(1) != options.num_features()) {
    auto y = forward(x);  // (B, C, H, W)
    namespace F = torch::nn::functional;
    return negative_slope == 0.0
               ? torch::relu(y)
               : F::leaky_relu(y, F::LeakyReLUFuncOptions().negative_slope(negative_slope));
  }
  auto r = batch_norm_leaky_relu(x, weight, bias, options.eps(), negative_slope);
  update_running_stats(r.mean, r.var, static_cast<double>(x.numel() / x.size(1)));
  return r.output;  // (B, C, H, W)
}

double SyncBatchNorm2dImpl::next_momentum() {
  num_batches_tracked.add_(1);
  if (options.momentum().has_value()) return options.momentum().value();
  return 1.0 / num_batches_tracked.item<double>();  // a cumulative average
}

void SyncBatchNorm2dImpl::update_running_stats(const torch::Tensor& mean,
                                               const torch::Tensor& biased_var, double n) {
  update_running_stats(mean, biased_var, torch::scalar_tensor(n / (n - 1), torch::kDouble));
}

void SyncBatchNorm2dImpl::update_running_stats(const torch::Tensor& mean,
                                               const torch::Tensor& biased_var,
                                               const torch::Tensor& bessel) {
  if (!options.track_running_stats()) return;
  // BatchNorm2d's update: the momentum's share of the batch's mean and
  // unbiased variance (Bessel's n/(n − 1): a 0-dim float64 tensor, which
  // type promotion treats as a scalar, so the product rounds as
  // `biased_var * (n / (n − 1))` with a double does).
  torch::NoGradGuard no_grad;
  const double f = next_momentum();
  running_mean.mul_(1 - f).add_(mean.detach().to(running_mean.scalar_type()), f);
  running_var.mul_(1 - f).add_((biased_var.detach() * bessel).to(running_var.scalar_type()), f);
}

torch::Tensor SyncBatchNorm2dImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.num_features(),
              "SyncBatchNorm2d: expected input (B, ", options.num_features(), ", H, W), got ",
              x.sizes());
  if (is_training() && !distributed() && x.size(1) > 1 && !x.is_contiguous() &&
      batch_norm_leaky_relu_takes(x)) {
    // Channels-last on one process: our kernel with float64 statistics, not
    // LibTorch 1.13's channels-last BatchNorm, which sums in float32 over the
    // whole batch (14–50× the row-major kernel's error;
    // engine/batch_norm_activation.cpp). A slope of 1 is no activation.
    auto r = batch_norm_leaky_relu(x, weight, bias, options.eps(), 1.0);
    update_running_stats(r.mean, r.var, static_cast<double>(x.numel() / x.size(1)));
    return r.output;  // (B, C, H, W), channels-last
  }
  if (!is_training() || !distributed()) {
    // One process: exactly BatchNorm2d's forward (torch::nn::BatchNormImplBase).
    const double f = is_training() && options.track_running_stats() ? next_momentum() : 0.0;
    return torch::batch_norm(x, weight, bias, running_mean, running_var,
                             is_training() || !options.track_running_stats(), f, options.eps(),
                             at::globalContext().userEnabledCuDNN());
  }
  const int64_t C = x.size(1);
  const auto per_channel = [C](const torch::Tensor& t) { return t.view({1, C, 1, 1}); };
  // One collective for the statistics (their latency, not the arithmetic,
  // bounds the layer on several ranks): the global count, Σx and Σx² per
  // channel, accumulated in float64 so that var = Σx²/n − mean² keeps the
  // precision of one process's two-pass variance. The backward of
  // allreduce_sum_grad is a second collective.
  auto local = torch::cat({x.sum({0, 2, 3}, false, torch::kDouble),                 // (C,)
                           x.square().sum({0, 2, 3}, false, torch::kDouble),        // (C,)
                           torch::full({1}, static_cast<double>(x.numel() / C),
                                       x.options().dtype(torch::kDouble))});
  auto total = allreduce_sum_grad(local);                                            // (2C + 1,)
  // The global count stays a tensor: reading it on the host would be one
  // device synchronization per layer and step on a GPU. More than one local
  // value per channel already proves the check; only then is it read.
  auto n = total.narrow(0, 2 * C, 1);                                                // (1,)
  if (x.numel() / C <= 1 || x.is_cpu()) {
    const double count = n.item<double>();
    TORCH_CHECK(count > 1, "SyncBatchNorm2d: needs more than one value per channel, got ", count);
  }
  auto mean_d = total.narrow(0, 0, C) / n;                                           // (C,)
  auto var_d = (total.narrow(0, C, C) / n - mean_d.square()).clamp_min(0.0);        // (C,) biased
  auto mean = mean_d.to(x.scalar_type()), var = var_d.to(x.scalar_type());
  auto centered = x - per_channel(mean);                                             // (B, C, H, W)
  auto y = centered * per_channel(torch::rsqrt(var + options.eps()));
  if (options.affine()) y = y * per_channel(weight) + per_channel(bias);
  update_running_stats(mean, var, (n / (n - 1)).squeeze());  // () float64, on x's device
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

std::vector<torch::Tensor> statistics_batch_indices(int64_t n, int64_t batch, uint64_t seed) {
  const int64_t b = std::min<int64_t>(batch, n);
  const int64_t count = std::max<int64_t>(1, std::min<int64_t>(8, 2048 / std::max<int64_t>(b, 1)));
  auto order = torch::tensor(seeded_permutation(n, seed));  // (n,)
  std::vector<torch::Tensor> out;
  for (int64_t k = 0; k < count && b > 0 && (k + 1) * b <= n; ++k)
    out.push_back(order.narrow(0, k * b, b));  // (b,)
  return out;
}

}  // namespace sparseloop
