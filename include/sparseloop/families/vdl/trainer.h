// Training and evaluation of the VDL family (`sparseloop train --model
// sdl|vdl|sdl-nl|vdl-nl`): Evtimova & LeCun, "Sparse Coding with Multi-Layer
// Decoders using Variance Regularization" (TMLR 2022), with the conventions
// of the authors' code (docs/design.md §8, docs/vdl.md).
//
// Per batch (the authors' main.py): the LISTA encoder predicts codes E(y);
// FISTA on the VDL energy (families/vdl/model.h), warm-started from E(y), gives
// codes z* that are then constants; the decoder takes one Adam step on
// MSE(D(z*), y) (then SDL renormalises every decoder column); the encoder
// takes one Adam step on MSE(E(y), z*). Validation uses the encoder's codes
// (amortised inference); the best epoch is the one with the lowest
// validation energy.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/engine/config.h"
#include "sparseloop/engine/gradient_sync.h"
#include "sparseloop/families/vdl/model.h"

namespace sparseloop {

/// Every option of the VDL family (flags of `sparseloop train`, keys of the
/// [vdl] section of RUN_DIR/config.toml). Defaults: the MNIST VDL row of the
/// paper's Table 3; `--preset` gives the other rows.
struct VdlConfig {
  // Model.
  int64_t code_dim = 128;
  int64_t hidden_dim = 1024;
  int64_t lista_iterations = 3;
  // Energy and inference.
  double lambda = 0.02;
  double beta = -1;
  double hinge_threshold = 0.5;
  double gamma = 5;
  double inference_step = 0.5;
  int64_t inference_steps = 200;
  double inference_tolerance = 1e-3;
  std::string stop_rule = "freeze";
  std::string normalize_decoder = "auto";
  // Optimisation.
  double lr_decoder = 3e-4;
  double lr_encoder = 1e-4;
  double wd_decoder = 0;
  double wd_decoder_bias = 0;
  double wd_encoder = 0;
  double wd_encoder_bias = 0;
  int64_t anneal_decoder_every = 0;
  double anneal_decoder_factor = 0.5;
  int64_t patience = 0;
  // Data.
  double val_fraction = 0.1;
  int64_t train_limit = 0;
  uint64_t data_seed = 31;
  int64_t patches_train = 50000;
  int64_t patches_val = 5000;
  int64_t patches_test = 5000;
  int64_t patch_resize = 256;
  double patch_min_std = 0.5;
  int64_t patch_max_images = 0;
  // Evaluation.
  double denoise_sigma = 1.0;

  template <class V>
  void visit(V& v) {
    v("code-dim", code_dim, "VDL: code size l");
    v("hidden-dim", hidden_dim, "VDL: hidden units of the -nl decoders");
    v("lista-iterations", lista_iterations, "VDL: LISTA refinement steps of the encoder");
    v("lambda", lambda, "VDL: sparsity weight λ of ‖z‖₁");
    v("beta", beta, "VDL: variance-hinge weight β (< 0: 10 for vdl*, 0 for sdl*)");
    v("hinge-threshold", hinge_threshold, "VDL: target std T of every code component");
    v("gamma", gamma, "VDL: weight γ of the pull of FISTA codes towards the encoder's");
    v("inference-step", inference_step, "VDL: fixed FISTA step η");
    v("inference-steps", inference_steps, "VDL: cap on FISTA steps");
    v("inference-tolerance", inference_tolerance,
      "VDL: per-sample stop when ‖z_k − z_k−1‖/‖z_k−1‖ < this (0: never)");
    v("stop-rule", stop_rule,
      "VDL: freeze (a stopped sample keeps its code) | authors (their momentum drift)");
    v("normalize-decoder", normalize_decoder,
      "VDL: unit-norm decoder columns after each step: auto (sdl*: on, vdl*: off) | on | off");
    v("lr-decoder", lr_decoder, "VDL: Adam learning rate of the decoder");
    v("lr-encoder", lr_encoder, "VDL: Adam learning rate of the encoder");
    v("wd-decoder", wd_decoder, "VDL: weight decay of the decoder's weights");
    v("wd-decoder-bias", wd_decoder_bias, "VDL: weight decay of the hidden-layer bias (-nl)");
    v("wd-encoder", wd_encoder, "VDL: weight decay of the encoder's weights");
    v("wd-encoder-bias", wd_encoder_bias, "VDL: weight decay of the encoder's bias");
    v("anneal-decoder-every", anneal_decoder_every,
      "VDL: multiply the decoder's learning rate by --anneal-decoder-factor every N epochs (0: never)");
    v("anneal-decoder-factor", anneal_decoder_factor, "VDL: decoder learning-rate factor");
    v("patience", patience,
      "VDL: stop after this many validations without a lower energy (0: train to the end)");
    v("val-fraction", val_fraction, "VDL: fraction of the MNIST training set kept for validation");
    v("train-limit", train_limit, "VDL: use at most this many training samples (0: all)");
    v("data-seed", data_seed, "VDL: seed of the validation split and of the patch crops");
    v("patches-train", patches_train, "VDL: training patches cut from the photos");
    v("patches-val", patches_val, "VDL: validation patches");
    v("patches-test", patches_test, "VDL: test patches");
    v("patch-resize", patch_resize, "VDL: shorter side of each photo before cropping (0: keep)");
    v("patch-min-std", patch_min_std, "VDL: keep patches whose std after LCN is at least this");
    v("patch-max-images", patch_max_images, "VDL: read at most this many photos (0: all)");
    v("denoise-sigma", denoise_sigma, "VDL: σ of the evaluation's denoising (normalised space)");
  }
};

/// The VDL presets: one per row of the paper's Table 3 (the authors'
/// scripts/*.sh): mnist-{sdl,sdl-nl,vdl,vdl-nl}, patches-{sdl,sdl-nl,vdl,vdl-nl}.
std::vector<Preset> vdl_presets();

// ------------------------------------------------------------------ data

/// One split in the model's (normalised) space.
struct VdlSplit {
  torch::Tensor x;         ///< (N, d) float32
  torch::Tensor labels;    ///< (N,) int64, undefined for patches
  torch::Tensor lcn_mean;  ///< (N, d) LCN local means, undefined for MNIST
  torch::Tensor lcn_std;   ///< (N, d) LCN local stds, undefined for MNIST
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
  VdlSplit subset(const torch::Tensor& indices) const;
  VdlSplit narrow(int64_t start, int64_t length) const;
};

struct VdlData {
  std::string name;  ///< "mnist" or "patches"
  std::string source;  ///< where it came from (folder)
  int64_t channels = 1, height = 28, width = 28;
  int64_t num_classes = 0;  ///< 10 for MNIST, 0 for patches
  VdlSplit train, val, test;
  double pixel_mean = 0, pixel_std = 1;  ///< x_pixels = x · pixel_std + pixel_mean (after de-whitening)
  int64_t dim() const { return channels * height * width; }
  /// Normalised samples x (N, d) of `rows` (same rows as x) → pixels in [0, 1]
  /// units (N, C, H, W): de-whitened with the rows' LCN maps when present.
  torch::Tensor to_pixels(const torch::Tensor& x, const VdlSplit& rows) const;
};

/// MNIST (IDX files in `data_dir`, or the embedded digits when empty),
/// normalised with (0.1307, 0.3081), the training set split into train and
/// validation (`val_fraction`, seeded by data_seed); or LCN patches from the
/// photos in `data_dir` (the Debian photographs when empty).
VdlData load_vdl_data(const std::string& data, const std::string& data_dir, const VdlConfig& config);

// -------------------------------------------------------------- training

/// Library-level training options (resolved from VdlConfig and the model).
struct VdlTrainOptions {
  VdlInferenceOptions inference;
  bool normalize_decoder = false;
  double lr_decoder = 3e-4, lr_encoder = 1e-4;
  double wd_decoder = 0, wd_decoder_bias = 0, wd_encoder = 0, wd_encoder_bias = 0;
};

/// Resolves model-dependent defaults: β (< 0 → 10 for vdl*, 0 for sdl*),
/// column normalisation (auto → on for sdl*), the stop rule. InputError on
/// bad values, naming the flag.
VdlTrainOptions resolve_vdl_options(const std::string& model, const VdlConfig& config);
/// The model for `model` (linear for sdl/vdl, one hidden layer for -nl).
VdlModel make_vdl_model(const std::string& model, const VdlConfig& config, int64_t input_dim);

/// Statistics of one training batch.
struct VdlStepStats {
  double rec_loss = 0;   ///< decoder loss MSE(D(z*), y) before the step
  double enc_loss = 0;   ///< encoder loss MSE(E(y), z*) before the step
  double energy = 0;     ///< E(z*) per sample
  double hinge = 0;      ///< mean over components of [(T − std_j(z*))₊]²
  double sparsity = 0;   ///< fraction of zero entries of z*
  double code_std = 0;   ///< mean over components of std_j(z*)
  double inference_steps = 0;  ///< mean FISTA steps per sample
  double decoder_norm = 0;     ///< mean ℓ2 norm of the dictionary's columns
  nlohmann::json to_json() const;
};

/// One VDL training step at a time on a model (used by train_vdl and tests).
class VdlTrainer {
 public:
  VdlTrainer(VdlModel model, VdlTrainOptions options);
  /// y: (B, d) normalised inputs on the model's device (in a distributed run,
  /// this rank's shard of the global batch; the statistics are the global batch's).
  VdlStepStats step(const torch::Tensor& y);
  /// Sets the learning rates to base × scale (annealing).
  void set_lr_scale(double decoder_scale, double encoder_scale);
  torch::optim::Adam& decoder_optimizer() { return *decoder_opt_; }
  torch::optim::Adam& encoder_optimizer() { return *encoder_opt_; }
  VdlModel& model() { return model_; }
  const VdlTrainOptions& options() const { return options_; }

 private:
  VdlModel model_;
  VdlTrainOptions options_;
  std::unique_ptr<torch::optim::Adam> decoder_opt_, encoder_opt_;
  std::unique_ptr<GradientSync> decoder_sync_, encoder_sync_;  ///< data-parallel sums
};

struct VdlEvalOptions {
  int64_t batch_size = 250;    ///< also the batch of the energy's variance hinge
  double denoise_sigma = 0;    ///< > 0: also denoising metrics at this σ
  bool fista = false;          ///< also metrics of FISTA codes (warm-started from the encoder)
  uint64_t seed = 0;           ///< noise
};

/// Metrics of the encoder's codes (amortised inference, as the paper reports):
/// psnr (dB, de-normalised, peak 1, mean over samples), sparsity (fraction of
/// zeros), energy (per sample, hinge over batches of batch_size), mse,
/// code_std, active_components, hidden_sparsity (-nl); with denoising:
/// noisy_psnr, denoise_psnr, denoise_sparsity; with fista: fista_psnr,
/// fista_sparsity, fista_steps.
nlohmann::json evaluate_vdl(VdlModel& model, const VdlData& data, const VdlSplit& split,
                            const VdlTrainOptions& options, const VdlEvalOptions& eval);

/// `sparseloop train` for sdl, vdl, sdl-nl, vdl-nl.
nlohmann::json train_vdl(const CommonTrainConfig& common, const VdlConfig& config);

// ------------------------------------------------------------- run access

/// A trained run, loaded for the analysis commands.
struct VdlRun {
  std::string dir;
  CommonTrainConfig common;
  VdlConfig config;
  VdlTrainOptions options;
  VdlModel model{nullptr};
  torch::Device device = torch::kCPU;
  int64_t channels = 1, height = 28, width = 28;  ///< the samples' image shape (model_info.json)
};

/// Reads RUN/config.toml and the weights of `checkpoint` ("best", "final" =
/// RUN/model.safetensors, or "step-XXXXXXXX"); InputError names what is missing.
VdlRun load_vdl_run(const std::string& run_dir, const std::string& checkpoint, torch::Device device);

}  // namespace sparseloop
