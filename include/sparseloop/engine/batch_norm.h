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

/// BatchNorm2d whose training-mode statistics are those of the global batch
/// when training runs on several processes (util/distributed.h): mean and
/// variance summed over the ranks, in two passes, differentiably, so that N
/// ranks normalize exactly as one process that sees the whole batch. The
/// LibTorch C++ frontend has no SyncBatchNorm (ATen's gather kernels are
/// CUDA-only). Parameters and buffers are BatchNorm2d's, under its names;
/// with one process, in evaluation, or inside a LocalScope
/// (util/distributed.h) it *is* BatchNorm2d.
///
/// A module of its own rather than a subclass of BatchNorm2dImpl: Debian's
/// LibTorch 1.13 does not export BatchNormImplBase's pretty_print, which a
/// derived vtable references. recalibrate_batch_norm handles both kinds.
class SyncBatchNorm2dImpl : public torch::nn::Cloneable<SyncBatchNorm2dImpl> {
 public:
  explicit SyncBatchNorm2dImpl(int64_t num_features)
      : SyncBatchNorm2dImpl(torch::nn::BatchNormOptions(num_features)) {}
  explicit SyncBatchNorm2dImpl(const torch::nn::BatchNormOptions& options);
  void reset() override;
  void reset_running_stats();
  void pretty_print(std::ostream& stream) const override;
  /// (B, C, H, W) → (B, C, H, W).
  torch::Tensor forward(const torch::Tensor& input);
  /// leaky_relu(forward(input), negative_slope) (0: relu). In training on one
  /// process, for row-major float input on the CPU, one fused function
  /// (engine/batch_norm_activation.h) with the same running statistics.
  torch::Tensor forward_leaky_relu(const torch::Tensor& input, double negative_slope);

 private:
  /// Counts the batch; the momentum, or 1/count without one (a cumulative average).
  double next_momentum();
  /// Running statistics from a batch's mean and biased variance over n values
  /// per channel (no-op without track_running_stats).
  void update_running_stats(const torch::Tensor& mean, const torch::Tensor& biased_var, double n);
  void update_running_stats(const torch::Tensor& mean, const torch::Tensor& biased_var,
                            const torch::Tensor& bessel);

 public:

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias;                                   // (C,) when affine
  torch::Tensor running_mean, running_var, num_batches_tracked;  // (C,), (C,), ()
};
TORCH_MODULE(SyncBatchNorm2d);


/// The training images whose statistics evaluation's BatchNorm uses (and
/// CSC-CTRL's initial calibration): up to 8 batches of `batch` (at most 2 048
/// images) of a seeded permutation of [0, n), each batch's indices (B,).
/// A permutation, not the first images: an ImageFolder is read class by
/// class, so the first 512 crops of a folder were one class's (docs/results.md,
/// the 64×64 crops). Every rank draws the same indices.
std::vector<torch::Tensor> statistics_batch_indices(int64_t n, int64_t batch, uint64_t seed);

/// Resets every BatchNorm (1-d and 2-d) of `model` and re-estimates its
/// running mean and variance as the plain average over `forward(batch)` for
/// each of `batches`, run in training mode without gradients; the momentum
/// and the module's mode are restored afterwards. Parameters are unchanged.
/// Every rank of a distributed run passes the same batches and gets the same
/// statistics (a LocalScope).
void recalibrate_batch_norm(torch::nn::Module& model, const std::vector<torch::Tensor>& batches,
                            const std::function<void(const torch::Tensor&)>& forward);

}  // namespace sparseloop
