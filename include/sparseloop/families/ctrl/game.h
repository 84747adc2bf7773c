// One round of the closed-loop max-min game (docs/design.md §5;
// Dai et al., CPAL 2024, §3.2): an ascent step of the encoder player on the
// objective T(Z, Ẑ), then a descent step of the decoder player, with the
// shared dictionaries' gradients routed by Strategy 1 or 2.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/engine/gradient_sync.h"
#include "sparseloop/families/ctrl/model.h"
#include "sparseloop/families/ctrl/rate_reduction.h"

namespace sparseloop {

struct GameOptions {
  /// 2: ascent differentiates the encoder's uses of the shared dictionaries
  /// only; descent the total derivative. 1: descent only the decoder's use.
  TORCH_ARG(int64_t, strategy) = 2;
  /// Class-conditional objective (needs labels) instead of ΔR(Z, Ẑ).
  TORCH_ARG(bool, class_conditional) = false;
  TORCH_ARG(int64_t, num_classes) = 0;
  TORCH_ARG(double, eps_sq) = kDefaultEpsilonSq;
  TORCH_ARG(int64_t, encoder_steps) = 1;
  TORCH_ARG(double, lr) = 2e-4;
  /// The encoder (ascent) player's learning rate is lr × this; the decoder's
  /// is lr. Both move the shared dictionaries, each by ≈ lr per step under
  /// Adam whatever its gradient's scale, so this, not an objective weight,
  /// sets the balance of the tug on them (docs/results.md, natural images).
  TORCH_ARG(double, encoder_lr_ratio) = 1.0;
  TORCH_ARG(double, beta1) = 0.0;
  TORCH_ARG(double, beta2) = 0.9;
  /// Weight μ of the sample-wise term mean_i ΔR(z_i, ẑ_i) in T (U-CTRL,
  /// rate_reduction.h); 0: the paper's objective alone.
  TORCH_ARG(double, sample_weight) = 0.0;
  /// Ablation, never a preset's: the decoder player also minimizes this
  /// weight × the pixel MSE ‖X̂ − X‖²/numel, which the method forbids; it
  /// measures what the architecture could reconstruct (docs/results.md).
  TORCH_ARG(double, pixel_weight) = 0.0;
};

class ClosedLoopGame {
 public:
  ClosedLoopGame(std::shared_ptr<ClosedLoopModel> model, GameOptions options);

  /// One round on images x (B, C, S, S) in [−1, 1] with labels y (B,) (or
  /// undefined). Returns every ΔR term of the ascent ("enc_…") and descent.
  /// In a distributed run x and y are this rank's shard of the global batch:
  /// the objective is that of the global batch (objective()), and each
  /// player's gradients are summed over the ranks.
  nlohmann::json step(const torch::Tensor& x, const torch::Tensor& y);

  /// The ascent player's objective: T computed so that its gradient reaches
  /// exactly the parameters and uses this player differentiates. step()
  /// maximizes it; tests check the routing through it.
  ClosedLoopTerms ascent_objective(const torch::Tensor& x, const torch::Tensor& y);
  /// The descent player's objective (minimized), routed by the strategy.
  ClosedLoopTerms descent_objective(const torch::Tensor& x, const torch::Tensor& y);

  /// T(Z, Ẑ) for the configured objective, over the global batch: in a
  /// distributed run every rank's rows are gathered (allgather_rows_grad), so
  /// every rank computes the same T and its gradient reaches each rank's rows.
  ClosedLoopTerms objective(const torch::Tensor& z, const torch::Tensor& z_hat,
                            const torch::Tensor& y) const;

  /// The decoder's learning rate lr and the encoder's lr × encoder_lr_ratio.
  void set_lr(double lr);
  torch::optim::Adam& encoder_optimizer() { return *opt_enc_; }
  torch::optim::Adam& decoder_optimizer() { return *opt_dec_; }
  const GameOptions& options() const { return options_; }

 private:
  std::shared_ptr<ClosedLoopModel> model_;
  GameOptions options_;
  std::unique_ptr<torch::optim::Adam> opt_enc_, opt_dec_;
  std::unique_ptr<GradientSync> sync_enc_, sync_dec_;
};

}  // namespace sparseloop
