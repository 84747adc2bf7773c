// BatchNorm statistics for the weights being evaluated. A training run's
// running statistics are an exponential average that lags behind weights
// that move every step (Ioffe, "Batch Renormalization", NeurIPS 2017, §1),
// and after a few dozen steps still remembers their initial values: a short
// run's evaluation then measures the lag, not the model (docs/sdnet.md,
// docs/results.md). Re-estimating them as an exact average over fixed
// training batches for the current weights removes both.
#pragma once

#include <functional>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// Resets every BatchNorm (1-d and 2-d) of `model` and re-estimates its
/// running mean and variance as the plain average over `forward(batch)` for
/// each of `batches`, run in training mode without gradients; the momentum
/// and the module's mode are restored afterwards. Parameters are unchanged.
void recalibrate_batch_norm(torch::nn::Module& model, const std::vector<torch::Tensor>& batches,
                            const std::function<void(const torch::Tensor&)>& forward);

}  // namespace sparseloop
