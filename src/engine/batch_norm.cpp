#include "sparseloop/engine/batch_norm.h"

namespace sparseloop {

void recalibrate_batch_norm(torch::nn::Module& model, const std::vector<torch::Tensor>& batches,
                            const std::function<void(const torch::Tensor&)>& forward) {
  // The two BatchNorm kinds the library's models use; their options (and so
  // their momentum) have the same type.
  struct Norm {
    std::function<void()> reset;
    torch::nn::BatchNormOptions* options;
  };
  std::vector<Norm> norms;
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>())
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
    for (const auto& x : batches) forward(x);
  }
  for (size_t i = 0; i < norms.size(); ++i) norms[i].options->momentum(momenta[i]);
  model.train(was_training);
}

}  // namespace sparseloop
