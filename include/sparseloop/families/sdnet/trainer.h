// Training SDNet / ResNet classifiers (Dai et al., NeurIPS 2022, §4 and the
// authors' train.py / Lib/cls_function.py): cross-entropy, SGD with momentum
// (Nesterov on CIFAR), weight decay on every parameter, a cosine learning
// rate stepped every iteration (CIFAR) or steps at epochs 30/60/90 (ImageNet),
// random crop with zero padding + horizontal flip (CIFAR) or random resized
// crop + flip (ImageNet), top-1/top-5 on the test split after every epoch.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/data/dataset.h"
#include "sparseloop/engine/config.h"
#include "sparseloop/families/sdnet/model.h"

namespace sparseloop {

/// Options of the SDNet family (`sparseloop train --model sdnet18 …`).
/// Defaults are the paper's CIFAR settings; presets cover the other datasets.
struct SdnetConfig {
  // Model
  int64_t width = 64;               ///< stage widths width·{1,2,4,8}
  std::string stem = "auto";        ///< cifar | imagenet | auto (imagenet when input ≥ 128 px)
  bool no_shortcut = false;         ///< drop the residual connections
  // CSC layers (authors' experiments/*.yaml)
  CscOptions csc = sdnet_csc_options();
  int64_t check_step_every = 0;     ///< log max η·L (exact L) every N steps (0: never)
  // Optimizer and schedule
  double lr = 0.1;
  double momentum = 0.9;
  bool no_nesterov = false;
  double weight_decay = 5e-4;
  std::string schedule = "cosine";  ///< cosine (per iteration) | multistep (per epoch)
  double lr_min = 1e-6;             ///< cosine: final learning rate (eta_min)
  std::string milestones = "30,60,90";  ///< multistep: epochs
  double gamma = 0.1;               ///< multistep: factor at each milestone
  // Data
  std::string augment = "auto";     ///< auto | crop-flip | crop | resized-crop | none
  int64_t crop_padding = 4;         ///< zero padding of the random crop
  int64_t image_size = 0;           ///< network input size (0: 32, or 224 for folder data)
  int64_t load_size = 256;          ///< folder data: stored size (test: centre crop image-size)
  std::string normalize = "auto";   ///< auto | none | "m1,m2,m3/s1,s2,s3"
  int64_t test_batch_size = 256;
  int64_t test_limit = 0;           ///< validate on at most this many test images (0: all)

  template <class V>
  void visit(V& v) {
    v("width", width, "SDNet/ResNet base width (paper: 64)");
    v("stem", stem, "input stem: cifar | imagenet | auto");
    v("no-shortcut", no_shortcut, "no residual connections (SDNet-all without shortcut)");
    v("csc-lambda", csc.lambda(), "λ of every CSC layer during training (paper: 0.1)");
    v("csc-steps", csc.steps(), "unrolled FISTA steps per CSC layer (paper: 2)");
    v("csc-step-factor", csc.step_factor(), "FISTA step = factor / L (paper: 0.9)");
    v("csc-signed", Negated{csc.nonnegative()}, "signed codes (paper: non-negative)");
    v("step-refresh", csc.step_refresh(),
      "when L is re-estimated: on-change | every-forward | fixed");
    v("power-iterations", csc.power_iterations(),
      "most warm-started power iterations per refresh of L");
    v("power-tolerance", csc.power_tolerance(),
      "stop the power iteration when L changes by less than this (0: always --power-iterations)");
    v("restart-threshold", csc.restart_threshold(),
      "cold re-estimate of L when a dictionary moves more than this in one step (0: never)");
    v("check-step-every", check_step_every,
      "every N steps (a multiple of --log-every) log max η·L over the CSC layers with an exact L (diagnostic; 0: never)");
    v("lr", lr, "SGD learning rate");
    v("momentum", momentum, "SGD momentum");
    v("no-nesterov", no_nesterov, "plain momentum instead of Nesterov (ImageNet preset)");
    v("weight-decay", weight_decay, "weight decay on every parameter");
    v("schedule", schedule, "learning-rate schedule: cosine (per iteration) | multistep (per epoch)");
    v("lr-min", lr_min, "cosine schedule: final learning rate");
    v("milestones", milestones, "multistep schedule: epochs, comma-separated");
    v("gamma", gamma, "multistep schedule: factor at each milestone");
    v("augment", augment, "auto | crop-flip | crop | resized-crop | none");
    v("crop-padding", crop_padding, "zero padding of the random crop");
    v("image-size", image_size, "network input size (0: 32; folder data 224)");
    v("load-size", load_size, "folder data: images are stored at this size");
    v("normalize", normalize, "auto | none | m1,m2,m3/s1,s2,s3 (per-channel mean/std)");
    v("test-batch-size", test_batch_size, "batch size for validation");
    v("test-limit", test_limit, "validate on at most this many test images (0: all)");
  }
};

/// The datasets of a run with their input pipeline. Images are stored uint8
/// (data/dataset.h); every batch goes: [0, 1] floats → geometry (MNIST: zero
/// pad 28 → 32; folder: centre crop at test time) → augmentation (training)
/// → per-channel normalization.
struct SdnetData {
  DataSplits splits;
  std::string name;                 ///< mnist, cifar10, cifar100, stl10, folder, synthetic
  int64_t channels = 0;
  int64_t num_classes = 0;
  int64_t pad = 0;                  ///< zero padding added to stored images
  int64_t image_size = 32;          ///< network input (square)
  std::string augment;              ///< crop-flip | crop | resized-crop | none (resolved)
  int64_t crop_padding = 4;
  std::vector<double> mean, std;    ///< empty: no normalization

  /// Stored [0, 1] images → the test-time geometry (B, C, S, S).
  torch::Tensor eval_geometry(const torch::Tensor& x01) const;
  /// Per-channel (x − mean)/std (identity when mean is empty).
  torch::Tensor normalize(const torch::Tensor& x01) const;
  /// A normalized, augmented training batch (B, C, S, S) on the CPU.
  torch::Tensor train_batch(const torch::Tensor& indices, torch::Generator& gen) const;
  /// A normalized test-time batch of `set` (B, C, S, S) on the CPU.
  torch::Tensor eval_batch(const ImageDataset& set, const torch::Tensor& indices) const;
};

/// Loads --data/--data-dir (MNIST embedded when no dir) and resolves the
/// pipeline; InputError names the flag or file on bad input.
SdnetData load_sdnet_data(const CommonTrainConfig& common, const SdnetConfig& cfg);
/// The pipeline for already loaded splits (`name` picks the defaults as in
/// load_sdnet_data: "mnist" pads 28 → 32 and normalizes with MNIST's
/// statistics, …; any other name uses no padding and no normalization).
SdnetData prepare_sdnet_data(DataSplits splits, const std::string& name, const SdnetConfig& cfg);

/// The network of `model` (docs/cli.md §4.4) for this data and config.
Sdnet build_sdnet(const std::string& model, const SdnetConfig& cfg, int64_t in_channels,
                  int64_t num_classes, int64_t image_size);

/// The config's CSC settings, checked (InputError naming the flag on bad values).
CscOptions sdnet_csc(const SdnetConfig& cfg);

struct ClassifierMetrics {
  double top1 = 0;  ///< percent
  double top5 = 0;  ///< percent (top-k with k = min(5, classes))
  double loss = 0;  ///< mean cross-entropy
  int64_t samples = 0;
};

/// Top-1/top-5 (percent) and mean cross-entropy of `model` in eval mode on
/// the first `limit` (0: all) images of `set`.
ClassifierMetrics evaluate_classifier(Sdnet& model, const SdnetData& data, const ImageDataset& set,
                                      torch::Device device, int64_t batch_size, int64_t limit = 0);

/// Learning rate at optimizer step `step` (0-based) of `total_steps`, with
/// `steps_per_epoch` batches per epoch. cosine: CosineAnnealingLR(T_max =
/// total, eta_min) evaluated per iteration; multistep: lr·γ^(milestones passed).
double sdnet_learning_rate(const SdnetConfig& cfg, int64_t step, int64_t total_steps,
                           int64_t steps_per_epoch);

/// Trains `common.model` on `common.data` (docs/cli.md §4); writes
/// the run folder; returns the loop's summary.
nlohmann::json train_sdnet(const CommonTrainConfig& common, const SdnetConfig& cfg);
/// The same on given data (tests, custom datasets).
nlohmann::json train_sdnet_on(const CommonTrainConfig& common, const SdnetConfig& cfg,
                              const SdnetData& data);

/// Rebuilds a trained run: config, data pipeline (without loading the images
/// when `load_data` is false) and the model with the weights of `checkpoint`
/// (best | final | step-XXXXXXXX), in eval mode on `device`.
struct SdnetRun {
  CommonTrainConfig common;
  SdnetConfig config;
  SdnetData data;
  Sdnet model{nullptr};
};
SdnetRun load_sdnet_run(const std::string& run_dir, const std::string& checkpoint,
                        torch::Device device, const std::string& data_override = "",
                        const std::string& data_dir_override = "");

/// The presets of the family (src/engine/presets.cpp).
std::vector<Preset> sdnet_presets();

}  // namespace sparseloop
