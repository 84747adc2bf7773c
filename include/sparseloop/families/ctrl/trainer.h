// Closed-loop transcription training for CSC-CTRL and CTRL (docs/design.md
// §5; Dai et al., CPAL 2024, §3; Dai et al., Entropy 2022).
//
// Per batch X: Z = f(X), X̂ = g(Z), Ẑ = f(X̂), objective T (ΔR(Z, Ẑ), or the
// class-conditional form). One ascent step of the encoder player on T, then
// one descent step of the decoder player. With shared dictionaries A:
//   Strategy 2 (the paper's): ascent differentiates only the encoder's uses
//     of A (X̂ is computed with the decoder's use held constant); descent
//     takes the total derivative through encoder and decoder.
//   Strategy 1 (original CTRL): descent differentiates only the decoder's use.
// No pixel-wise loss anywhere: alignment comes from ΔR and the shared A.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/data/dataset.h"
#include "sparseloop/engine/config.h"
#include "sparseloop/families/ctrl/model.h"
#include "sparseloop/families/ctrl/rate_reduction.h"

namespace sparseloop {

struct CtrlConfig {
  int64_t strategy = 2;          ///< gradient routing of the shared dictionaries (1 or 2)
  std::string objective = "auto";  ///< auto | delta | class
  double lr = 2e-4;
  double encoder_lr_ratio = 1.0;   ///< encoder (ascent) lr = lr × this
  double beta1 = 0.0;
  double beta2 = 0.9;
  std::string lr_decay = "none";   ///< none | linear (to 0 at the last step, as CTRL)
  int64_t encoder_steps = 1;       ///< ascent steps per descent step
  CscOptions csc = ctrl_csc_options();  ///< the CSC layers (csc-ctrl)
  int64_t width = 64;              ///< first layer width (doubles per layer)
  int64_t latent = 128;            ///< CTRL baseline feature dimension
  double eps_sq = kDefaultEpsilonSq;
  std::string classes;             ///< train on these classes only, e.g. "0,1,2,3,4"
  int64_t val_size = 1000;         ///< validation images held out of training
  int64_t classifier_epochs = 10;   ///< reference classifier training (cached)
  std::string mnist_to_32 = "pad"; ///< pad | resize (28 → 32)
  double sample_weight = 0.0;      ///< μ of the sample-wise ΔR term (game.h)
  double pixel_weight = 0.0;       ///< ablation: pixel MSE in the decoder's objective
  int64_t max_rollbacks = 0;       ///< collapse recoveries allowed (0: never)
  double rollback_drop = 0.0;      ///< metric fall that counts as collapse (0: auto)
  double rollback_lr_factor = 0.5; ///< learning rate × this at each recovery
  std::string best_metric = "auto";  ///< auto | psnr | consistency: what "best" means
  std::string augment = "none";    ///< none, or a comma list of hflip, dihedral, channels

  template <class V>
  void visit(V& v) {
    v("strategy", strategy, "shared-dictionary gradient routing: 2 (paper) or 1 (original CTRL)");
    v("objective", objective,
      "auto (class-conditional when labelled) | delta (ΔR(Z, Ẑ)) | class");
    v("lr", lr, "Adam learning rate of the decoder player (and of the encoder, times the ratio)");
    v("encoder-lr-ratio", encoder_lr_ratio,
      "the encoder (ascent) player's learning rate is lr × this (1: the paper's equal rates)");
    v("beta1", beta1, "Adam β1");
    v("beta2", beta2, "Adam β2");
    v("lr-decay", lr_decay, "none | linear (to zero at the last step)");
    v("encoder-steps", encoder_steps, "encoder (ascent) steps per decoder (descent) step");
    v("lambda", csc.lambda(), "λ of every CSC layer");
    v("fista-steps", csc.steps(), "unrolled FISTA steps per CSC layer");
    v("nonnegative", csc.nonnegative(), "non-negative codes");
    v("step-factor", csc.step_factor(), "FISTA step = factor / L");
    v("width", width, "width of the first layer (doubles per layer)");
    v("latent", latent, "feature dimension of the CTRL baseline");
    v("eps-sq", eps_sq, "ε² of the coding rate");
    v("classes", classes, "train on these classes only (comma-separated; empty: all)");
    v("val-size", val_size, "validation images held out of the training split");
    v("classifier-epochs", classifier_epochs, "epochs of the reference classifier (cached)");
    v("mnist-to-32", mnist_to_32, "MNIST 28→32: pad (zero border) or resize (bilinear)");
    v("sample-weight", sample_weight,
      "weight of the sample-wise term mean_i ΔR(z_i, ẑ_i) in the objective (U-CTRL; 0: none)");
    v("pixel-weight", pixel_weight,
      "ablation only: the decoder also minimizes this × pixel MSE (not the method)");
    v("max-rollbacks", max_rollbacks,
      "on a collapsing game, roll back to the best checkpoint and lower the lr, at most N times");
    v("rollback-drop", rollback_drop,
      "validation fall below the best that counts as collapse (0: 0.15 consistency or 2 dB PSNR)");
    v("rollback-lr-factor", rollback_lr_factor, "learning rate × this at each rollback");
    v("best-metric", best_metric,
      "validation metric of the best checkpoint: auto (consistency when labelled, else psnr) | "
      "psnr | consistency (ties within 2 standard errors go to the higher PSNR)");
    v("augment", augment,
      "training-image augmentation: none, or a comma list of hflip (left-right), dihedral (the 8 "
      "flips and quarter turns of the square) and channels (random order of the colour channels)");
  }
};

/// Presets from the papers (cifar10-, stl10-, imagenet-, mnist-csc-ctrl; mnist-ctrl).
std::vector<Preset> ctrl_presets();

/// Builds the model named `model` (csc-ctrl | ctrl) for images of
/// `channels` × `size` × `size`.
std::shared_ptr<ClosedLoopModel> make_closed_loop_model(const std::string& model,
                                                        const CtrlConfig& config, int64_t channels,
                                                        int64_t size);

/// Trains; returns the summary (also written to RUN_DIR/summary.json).
nlohmann::json train_ctrl(const CommonTrainConfig& common, const CtrlConfig& config);

/// The data of a closed-loop run: uint8 splits plus the preparation that
/// turns samples into the model's input (float (B, C, S, S) in [−1, 1]).
struct CtrlData {
  ImageDataset train, val, test;
  int64_t size = 32;  ///< model input size
  torch::Tensor prepare(const ImageDataset& d, const torch::Tensor& indices) const;
  std::string mnist_to_32 = "pad";
};
CtrlData load_ctrl_data(const CommonTrainConfig& common, const CtrlConfig& config);

/// A trained run, loaded for analysis.
struct CtrlRun {
  CommonTrainConfig common;
  CtrlConfig config;
  std::shared_ptr<ClosedLoopModel> model;
  std::string weights;  ///< the file the weights came from
};
/// Loads RUN_DIR's model from `checkpoint` (best | final | step-XXXXXXXX).
CtrlRun load_ctrl_run(const std::string& run_dir, const std::string& checkpoint,
                      torch::Device device);

}  // namespace sparseloop
