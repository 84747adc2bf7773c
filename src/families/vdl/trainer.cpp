#include "sparseloop/families/vdl/trainer.h"

#include "sparseloop/families/vdl/analysis.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "sparseloop/data/fetch.h"
#include "sparseloop/data/mnist.h"
#include "sparseloop/data/patches.h"
#include "sparseloop/data/registry.h"
#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/engine/gradient_sync.h"
#include "sparseloop/engine/loop.h"
#include "sparseloop/engine/run.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/engine/state_extra.h"
#include "sparseloop/families/vdl/variance_hinge.h"
#include "sparseloop/plot/image_grid.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/host_read.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/signals.h"

namespace sparseloop {

// ---------------------------------------------------------------- presets

std::vector<Preset> vdl_presets() {
  // The paper's Table 3, as set by the authors' scripts/*.sh (docs/vdl.md).
  // Common to all: batch 250, FISTA, non-negative, 200 steps, stop 1e-3,
  // LISTA 3 iterations, warm start from the encoder, T = 0.5, no decoder or
  // encoder weight decay except the bias decays listed.
  struct Row {
    const char* data;
    const char* model;
    int64_t code, hidden, epochs;
    const char *lambda, *beta, *gamma, *eta, *lr_d, *lr_e, *wd_d_bias, *wd_e_bias, *anneal;
  };
  const Row rows[] = {
      {"mnist", "sdl", 128, 0, 200, "0.005", "0", "1", "1", "0.001", "0.0003", "0", "0", "0"},
      {"mnist", "sdl-nl", 128, 1024, 200, "0.01", "0", "1", "1", "0.001", "0.0001", "0.001", "0", "0"},
      {"mnist", "vdl", 128, 0, 200, "0.02", "10", "5", "0.5", "0.0003", "0.0001", "0", "0", "0"},
      {"mnist", "vdl-nl", 128, 1024, 200, "0.01", "10", "100", "0.5", "0.0003", "0.0001", "0.001", "0", "30"},
      {"patches", "sdl", 256, 0, 100, "0.005", "0", "1", "0.5", "0.001", "0.0001", "0", "0.01", "0"},
      {"patches", "sdl-nl", 256, 2048, 100, "0.01", "0", "1", "0.5", "0.001", "0.0001", "0.01", "0.01", "0"},
      {"patches", "vdl", 256, 0, 100, "0.01", "10", "5", "0.5", "0.0003", "0.0001", "0", "0.01", "0"},
      {"patches", "vdl-nl", 256, 2048, 100, "0.01", "10", "40", "0.5", "0.00005", "0.0001", "0.1", "0.01", "30"},
  };
  std::vector<Preset> out;
  for (const auto& r : rows) {
    Preset p;
    p.name = std::string(r.data) + "-" + r.model;
    p.model = r.model;
    p.description = std::string("Evtimova & LeCun 2022, Table 3: ") +
                    (std::string(r.data) == "mnist" ? "MNIST " : "natural-image patches ") +
                    r.model + " (λ " + r.lambda + ", β " + r.beta + ", γ " + r.gamma + ", " +
                    std::to_string(r.epochs) + " epochs)";
    p.values = {{"data", r.data},
                {"batch-size", "250"},
                {"epochs", std::to_string(r.epochs)},
                {"code-dim", std::to_string(r.code)},
                {"lambda", r.lambda},
                {"beta", r.beta},
                {"gamma", r.gamma},
                {"inference-step", r.eta},
                {"inference-steps", "200"},
                {"inference-tolerance", "0.001"},
                {"hinge-threshold", "0.5"},
                {"lista-iterations", "3"},
                {"lr-decoder", r.lr_d},
                {"lr-encoder", r.lr_e},
                {"wd-decoder", "0"},
                {"wd-encoder", "0"},
                {"wd-decoder-bias", r.wd_d_bias},
                {"wd-encoder-bias", r.wd_e_bias},
                {"anneal-decoder-every", r.anneal},
                {"anneal-decoder-factor", "0.5"},
                {"normalize-decoder", std::string(r.model).rfind("sdl", 0) == 0 ? "on" : "off"}};
    if (r.hidden > 0) p.values["hidden-dim"] = std::to_string(r.hidden);
    out.push_back(std::move(p));
  }
  return out;
}

// ------------------------------------------------------------------- data

VdlSplit VdlSplit::subset(const torch::Tensor& idx) const {
  VdlSplit s;
  s.x = x.index_select(0, idx);
  if (labels.defined()) s.labels = labels.index_select(0, idx);
  if (lcn_mean.defined()) s.lcn_mean = lcn_mean.index_select(0, idx);
  if (lcn_std.defined()) s.lcn_std = lcn_std.index_select(0, idx);
  return s;
}

VdlSplit VdlSplit::narrow(int64_t start, int64_t length) const {
  VdlSplit s;
  s.x = x.narrow(0, start, length);
  if (labels.defined()) s.labels = labels.narrow(0, start, length);
  if (lcn_mean.defined()) s.lcn_mean = lcn_mean.narrow(0, start, length);
  if (lcn_std.defined()) s.lcn_std = lcn_std.narrow(0, start, length);
  return s;
}

torch::Tensor VdlData::to_pixels(const torch::Tensor& x, const VdlSplit& rows) const {
  auto v = x;
  if (rows.lcn_mean.defined()) {
    TORCH_CHECK(rows.lcn_mean.size(0) == x.size(0), "VdlData::to_pixels: ", x.size(0),
                " samples but LCN maps for ", rows.lcn_mean.size(0));
    v = lcn_dewhiten(x, rows.lcn_mean.to(x.device()), rows.lcn_std.to(x.device()));
  }
  return (v * pixel_std + pixel_mean).reshape({x.size(0), channels, height, width});
}

namespace {

constexpr double kMnistMean = 0.1307, kMnistStd = 0.3081;

VdlSplit mnist_split(const ImageDataset& d) {
  VdlSplit s;
  auto all = torch::arange(d.size(), torch::kLong);
  s.x = d.batch_float(all).sub_(kMnistMean).div_(kMnistStd).reshape({d.size(), -1}).contiguous();
  s.labels = d.labels.clone();
  return s;
}

VdlSplit patch_split(const PatchSet& p) {
  VdlSplit s;
  const int64_t n = p.size();
  s.x = p.patches.reshape({n, -1}).contiguous();
  s.lcn_mean = p.mean.reshape({n, -1}).contiguous();
  s.lcn_std = p.std.reshape({n, -1}).contiguous();
  return s;
}

}  // namespace

VdlData load_vdl_data(const std::string& data, const std::string& data_dir, const VdlConfig& c) {
  VdlData out;
  out.name = data;
  if (data == "mnist") {
    require(c.val_fraction > 0 && c.val_fraction < 1, "--val-fraction must be in (0, 1)");
    out.source = data_dir.empty() ? "the embedded MNIST digits" : data_dir;
    DataSplits splits = load_dataset_by_name("mnist", data_dir);
    // The training set is split into train / validation (the authors: 55 000 / 5 000).
    DataSplits tv = split_dataset(splits.train, 1.0 - c.val_fraction, c.data_seed);
    out.channels = splits.train.channels();
    out.height = splits.train.height();
    out.width = splits.train.width();
    out.num_classes = splits.train.num_classes > 0 ? splits.train.num_classes : 10;
    out.train = mnist_split(tv.train);
    out.val = mnist_split(tv.test);
    out.test = mnist_split(splits.test);
    out.pixel_mean = kMnistMean;
    out.pixel_std = kMnistStd;
  } else if (data == "patches") {
    require(c.patches_train > 0 && c.patches_val > 0 && c.patches_test > 0,
            "--patches-train, --patches-val and --patches-test must be positive");
    std::string dir = data_dir;
    if (dir.empty()) dir = fetch_photographs(default_data_root()).dir;
    out.source = dir;
    PatchOptions po;
    po.resize = c.patch_resize;
    po.min_std = c.patch_min_std;
    po.max_images = c.patch_max_images;
    PatchSplits ps =
        make_patch_splits(dir, c.patches_train, c.patches_val, c.patches_test, po, c.data_seed);
    out.height = out.width = po.patch_size;
    out.train = patch_split(ps.train);
    out.val = patch_split(ps.val);
    out.test = patch_split(ps.test);
    out.pixel_mean = po.pixel_mean;
    out.pixel_std = po.pixel_std;
  } else {
    throw InputError("--data " + data +
                     ": the VDL models train on mnist or patches (LCN patches of the photos in "
                     "--data-dir)");
  }
  if (c.train_limit > 0 && c.train_limit < out.train.size())
    out.train = out.train.narrow(0, c.train_limit);
  return out;
}

// ---------------------------------------------------------------- options

VdlTrainOptions resolve_vdl_options(const std::string& model, const VdlConfig& c) {
  const bool sdl = model.rfind("sdl", 0) == 0;
  require(model == "sdl" || model == "vdl" || model == "sdl-nl" || model == "vdl-nl",
          "--model " + model + ": not a VDL-family model (sdl, vdl, sdl-nl, vdl-nl)");
  require(c.lambda >= 0 && std::isfinite(c.lambda), "--lambda must be >= 0");
  require(c.gamma >= 0, "--gamma must be >= 0");
  require(c.hinge_threshold > 0, "--hinge-threshold must be > 0");
  require(c.inference_step > 0, "--inference-step must be > 0");
  require(c.inference_steps >= 1, "--inference-steps must be >= 1");
  require(c.inference_tolerance >= 0, "--inference-tolerance must be >= 0");
  require(c.lr_decoder > 0 && c.lr_encoder > 0, "--lr-decoder and --lr-encoder must be > 0");
  require(c.wd_decoder >= 0 && c.wd_decoder_bias >= 0 && c.wd_encoder >= 0 &&
              c.wd_encoder_bias >= 0,
          "--wd-* weight decays must be >= 0");
  require(c.code_dim >= 1, "--code-dim must be >= 1");
  require(c.hidden_dim >= 1, "--hidden-dim must be >= 1");
  require(c.lista_iterations >= 0, "--lista-iterations must be >= 0");
  require(c.anneal_decoder_every >= 0, "--anneal-decoder-every must be >= 0");
  require(c.anneal_decoder_factor > 0, "--anneal-decoder-factor must be > 0");
  require(c.patience >= 0, "--patience must be >= 0");
  // The data flags too, whatever --data is (they were checked only for the
  // dataset that uses them, so a negative value on the other one trained on
  // silently), before any data is read.
  require(c.val_fraction > 0 && c.val_fraction < 1, "--val-fraction must be in (0, 1)");
  require(c.train_limit >= 0, "--train-limit must be >= 0 (0: all)");
  require(c.patches_train > 0 && c.patches_val > 0 && c.patches_test > 0,
          "--patches-train, --patches-val and --patches-test must be positive");
  require(c.patch_resize >= 0, "--patch-resize must be >= 0 (0: keep)");
  require(c.patch_min_std >= 0, "--patch-min-std must be >= 0");
  require(c.patch_max_images >= 0, "--patch-max-images must be >= 0 (0: all)");
  require(c.denoise_sigma >= 0, "--denoise-sigma must be >= 0");
  VdlTrainOptions o;
  StopRule rule;
  if (c.stop_rule == "freeze")
    rule = StopRule::kFreeze;
  else if (c.stop_rule == "authors")
    rule = StopRule::kAuthors;
  else
    throw InputError("--stop-rule " + c.stop_rule + ": must be freeze or authors");
  const double beta = c.beta < 0 ? (sdl ? 0.0 : 10.0) : c.beta;
  o.inference = VdlInferenceOptions()
                    .energy(VdlEnergyOptions()
                                .lambda(c.lambda)
                                .beta(beta)
                                .threshold(c.hinge_threshold)
                                .gamma(c.gamma))
                    .step(c.inference_step)
                    .max_steps(c.inference_steps)
                    .tolerance(c.inference_tolerance)
                    .nonnegative(true)
                    .momentum(true)
                    .stop_rule(rule);
  if (c.normalize_decoder == "auto")
    o.normalize_decoder = sdl;
  else if (c.normalize_decoder == "on")
    o.normalize_decoder = true;
  else if (c.normalize_decoder == "off")
    o.normalize_decoder = false;
  else
    throw InputError("--normalize-decoder " + c.normalize_decoder + ": must be auto, on or off");
  o.lr_decoder = c.lr_decoder;
  o.lr_encoder = c.lr_encoder;
  o.wd_decoder = c.wd_decoder;
  o.wd_decoder_bias = c.wd_decoder_bias;
  o.wd_encoder = c.wd_encoder;
  o.wd_encoder_bias = c.wd_encoder_bias;
  return o;
}

VdlModel make_vdl_model(const std::string& model, const VdlConfig& c, int64_t input_dim) {
  const bool nonlinear = model.size() > 3 && model.substr(model.size() - 3) == "-nl";
  return VdlModel(VdlModelOptions(input_dim, c.code_dim)
                      .hidden_dim(nonlinear ? c.hidden_dim : 0)
                      .lista_iterations(c.lista_iterations));
}

// ---------------------------------------------------------------- trainer

nlohmann::json VdlStepStats::to_json() const {
  return {{"rec_loss", rec_loss}, {"enc_loss", enc_loss},       {"energy", energy},
          {"hinge", hinge},       {"sparsity", sparsity},       {"code_std", code_std},
          {"inference_steps", inference_steps}, {"decoder_norm", decoder_norm}};
}

namespace {

using torch::optim::Adam;
using torch::optim::AdamOptions;
using torch::optim::OptimizerParamGroup;

OptimizerParamGroup group(std::vector<torch::Tensor> params, double lr, double wd) {
  return OptimizerParamGroup(std::move(params),
                             std::make_unique<AdamOptions>(AdamOptions(lr).weight_decay(wd)));
}

/// Mean column norm of the weight that multiplies the codes (W or W₁).
double code_weight_norm(VdlDecoderImpl& d) {
  torch::NoGradGuard no_grad;
  const auto& w = d.is_linear() ? d.linear->weight : d.layer1->weight;  // (·, l)
  return w.norm(2, 0).mean().item<double>();
}

}  // namespace

VdlTrainer::VdlTrainer(VdlModel model, VdlTrainOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  auto& dec = *model_->decoder;
  auto& enc = *model_->encoder;
  // Adam with coupled L2 weight decay (torch.optim.Adam(weight_decay=…)), with
  // the paper's separate decay of the hidden-layer bias and of the encoder's bias.
  std::vector<OptimizerParamGroup> dg;
  if (dec.is_linear()) {
    dg.push_back(group({dec.linear->weight}, options_.lr_decoder, options_.wd_decoder));
  } else {
    dg.push_back(group({dec.layer1->bias}, options_.lr_decoder, options_.wd_decoder_bias));
    dg.push_back(group({dec.layer1->weight, dec.layer2->weight}, options_.lr_decoder,
                       options_.wd_decoder));
  }
  decoder_opt_ = std::make_unique<Adam>(std::move(dg), AdamOptions(options_.lr_decoder));
  std::vector<OptimizerParamGroup> eg;
  eg.push_back(group({enc.U->bias}, options_.lr_encoder, options_.wd_encoder_bias));
  eg.push_back(group({enc.U->weight, enc.S->weight}, options_.lr_encoder, options_.wd_encoder));
  encoder_opt_ = std::make_unique<Adam>(std::move(eg), AdamOptions(options_.lr_encoder));
  decoder_sync_ = std::make_unique<GradientSync>(dec.parameters());
  encoder_sync_ = std::make_unique<GradientSync>(enc.parameters());
}

void VdlTrainer::set_lr_scale(double decoder_scale, double encoder_scale) {
  for (auto& g : decoder_opt_->param_groups())
    static_cast<AdamOptions&>(g.options()).lr(options_.lr_decoder * decoder_scale);
  for (auto& g : encoder_opt_->param_groups())
    static_cast<AdamOptions&>(g.options()).lr(options_.lr_encoder * encoder_scale);
}

VdlStepStats VdlTrainer::step(const torch::Tensor& y) {
  TORCH_CHECK(y.dim() == 2 && y.size(1) == model_->options.input_dim(),
              "VdlTrainer::step: expected inputs (B, ", model_->options.input_dim(), "), got ",
              y.sizes());
  model_->train();
  VdlStepStats s;
  // In a distributed run y is this rank's shard of the global batch: the
  // losses below are this rank's shares of the global batch's means, and the
  // inference's hinge is the global batch's (families/vdl/model.h).
  auto count = torch::tensor({static_cast<double>(y.size(0))}, torch::kDouble);
  world().allreduce_sum(count);
  const double B = count.item<double>();
  // 1. Amortised codes E(y), with the graph for the encoder's step.
  auto z_enc = model_->encoder->forward(y);  // (b, l)
  // 2. FISTA on the VDL energy from E(y); the codes are constants afterwards.
  auto inf = vdl_inference(model_->decoder, y, z_enc.detach(), options_.inference);
  const auto& z = inf.z;
  // 3. Decoder step on MSE(D(z*), y) (mean over batch and pixels), then SDL's
  //    column normalisation.
  auto rec = (model_->decoder->forward(z) - y).pow(2).sum() / (B * static_cast<double>(y.size(1)));
  decoder_opt_->zero_grad();
  decoder_sync_->begin();
  rec.backward();
  decoder_sync_->finish();
  decoder_opt_->step();
  if (options_.normalize_decoder) model_->decoder->normalize_columns(1.0);
  // 4. Encoder step on MSE(E(y), z*).
  auto enc_loss = (z_enc - z).pow(2).sum() / (B * static_cast<double>(z.size(1)));
  encoder_opt_->zero_grad();
  encoder_sync_->begin();
  enc_loss.backward();
  encoder_sync_->finish();
  encoder_opt_->step();
  // Statistics of z* over the global batch (energy under the decoder before its step).
  {
    torch::NoGradGuard no_grad;
    const auto& eo = options_.inference.energy();
    auto losses = torch::stack({rec.detach().to(torch::kDouble), enc_loss.detach().to(torch::kDouble)})
                      .cpu();
    world().allreduce_sum(losses);
    const auto z_all = world().allgather_rows(z), enc_all = world().allgather_rows(z_enc.detach());
    const auto steps_all = world().allgather_rows(inf.sample_steps);
    auto stdj = batch_std(z_all);                                        // (l,)
    s.rec_loss = losses[0].item<double>();
    s.enc_loss = losses[1].item<double>();
    // E(z*) = Σ_i rec_i + β h + γ Σ_i code_i + λ‖z*‖₁, per sample; rec from the pre-step loss.
    const double rec_sum = s.rec_loss * B;
    // Every step's statistics in one device read (util/host_read.h).
    const auto read = host_read({torch::relu(eo.threshold() - stdj).pow(2).sum(),
                                 (z_all - enc_all).pow(2).mean(1).sum(), z_all.abs().sum(),
                                 (z_all == 0).to(torch::kDouble).mean(), stdj.mean(),
                                 steps_all.to(torch::kDouble).mean()});
    const double hinge_sum = read[0], code_sum = read[1];
    s.energy =
        (rec_sum + eo.beta() * hinge_sum + eo.gamma() * code_sum + eo.lambda() * read[2]) / B;
    s.hinge = hinge_sum / static_cast<double>(z.size(1));
    s.sparsity = read[3];
    s.code_std = read[4];
    s.inference_steps = read[5];
    s.decoder_norm = code_weight_norm(*model_->decoder);
  }
  return s;
}

// -------------------------------------------------------------- evaluation

namespace {

/// Σ over samples of the authors' PSNR: 10 log10(1/mse), mse over C, H, W,
/// 1e-4 when the images are equal; pixels de-normalised, peak 1, no clipping.
double psnr_sum(const torch::Tensor& estimate, const torch::Tensor& reference) {
  auto mse = (estimate - reference).pow(2).reshape({estimate.size(0), -1}).mean(1);  // (B,)
  mse = torch::where(mse == 0, torch::full_like(mse, 1e-4), mse);
  return (10.0 * torch::log10(1.0 / mse)).sum().item<double>();
}

}  // namespace

nlohmann::json evaluate_vdl(VdlModel& model, const VdlData& data, const VdlSplit& split,
                            const VdlTrainOptions& options, const VdlEvalOptions& eval) {
  TORCH_CHECK(eval.batch_size >= 1, "evaluate_vdl: batch_size must be >= 1");
  const int64_t n = split.size();
  require(n > 0, "evaluate_vdl: the split holds no samples");
  torch::NoGradGuard no_grad;
  model->eval();
  const auto dev = model->encoder->U->weight.device();
  const auto& eo = options.inference.energy();
  const int64_t l = model->options.code_dim();
  auto sum_z = torch::zeros({l}, torch::kDouble), sum_z2 = torch::zeros({l}, torch::kDouble);
  auto used = torch::zeros({l}, torch::kBool);
  double psnr = 0, zeros = 0, energy = 0, mse = 0, hidden_zeros = 0;
  double noisy_psnr = 0, den_psnr = 0, den_zeros = 0;
  double f_psnr = 0, f_zeros = 0, f_steps = 0;
  for (int64_t start = 0, b = 0; start < n; start += eval.batch_size, ++b) {
    const int64_t len = std::min(eval.batch_size, n - start);
    VdlSplit rows = split.narrow(start, len);
    auto y = rows.x.to(dev);                       // (B, d)
    auto z = model->encoder->forward(y);           // (B, l)
    auto y_hat = model->decoder->forward(z);       // (B, d)
    auto truth = data.to_pixels(y, rows);          // (B, C, H, W)
    psnr += psnr_sum(data.to_pixels(y_hat, rows), truth);
    zeros += (z == 0).sum().item<double>();
    mse += (y_hat - y).pow(2).mean(1).sum().item<double>();
    energy += vdl_energy(model->decoder, y, z, {}, eo).total.item<double>();
    auto zc = z.to(torch::kCPU, torch::kDouble);
    sum_z += zc.sum(0);
    sum_z2 += zc.pow(2).sum(0);
    used.logical_or_((zc != 0).any(0));
    if (!model->decoder->is_linear())
      hidden_zeros += (torch::relu(model->decoder->layer1->forward(z)) == 0).sum().item<double>();
    if (eval.denoise_sigma > 0) {
      // Gaussian noise in the normalised space (the authors' add_noise_to_img), reproducible.
      auto gen = at::detail::createCPUGenerator(eval.seed * 1000003ULL + static_cast<uint64_t>(b));
      auto noise = torch::randn(y.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat));
      auto y_noisy = y + eval.denoise_sigma * noise.to(dev, y.scalar_type());
      auto z_n = model->encoder->forward(y_noisy);
      noisy_psnr += psnr_sum(data.to_pixels(y_noisy, rows), truth);
      den_psnr += psnr_sum(data.to_pixels(model->decoder->forward(z_n), rows), truth);
      den_zeros += (z_n == 0).sum().item<double>();
    }
    if (eval.fista) {
      auto inf = vdl_inference(model->decoder, y, z, options.inference);
      f_psnr += psnr_sum(data.to_pixels(model->decoder->forward(inf.z), rows), truth);
      f_zeros += (inf.z == 0).sum().item<double>();
      f_steps += inf.mean_steps * static_cast<double>(len);
    }
  }
  const double N = static_cast<double>(n), NL = N * static_cast<double>(l);
  auto mean = sum_z / N;
  auto var = (sum_z2 - N * mean.pow(2)) / std::max(N - 1.0, 1.0);
  nlohmann::json m = {{"psnr", psnr / N},
                      {"sparsity", zeros / NL},
                      {"energy", energy / N},
                      {"mse", mse / N},
                      {"code_std", var.clamp_min(0).sqrt().mean().item<double>()},
                      {"active_components", used.to(torch::kDouble).mean().item<double>()},
                      {"samples", n}};
  if (!model->decoder->is_linear())
    m["hidden_sparsity"] = hidden_zeros / (N * static_cast<double>(model->decoder->options.hidden_dim()));
  if (eval.denoise_sigma > 0) {
    m["denoise_sigma"] = eval.denoise_sigma;
    m["noisy_psnr"] = noisy_psnr / N;
    m["denoise_psnr"] = den_psnr / N;
    m["denoise_sparsity"] = den_zeros / NL;
  }
  if (eval.fista) {
    m["fista_psnr"] = f_psnr / N;
    m["fista_sparsity"] = f_zeros / NL;
    m["fista_steps"] = f_steps / N;
  }
  return m;
}

// --------------------------------------------------------------- train_vdl

namespace {

/// Thrown from the step function once --patience validations passed without
/// a lower energy; the loop has checkpointed after that validation.
struct PatienceExhausted {};

}  // namespace

nlohmann::json train_vdl(const CommonTrainConfig& common_in, const VdlConfig& cfg) {
  CommonTrainConfig common = common_in;
  if (common.batch_size == 0) common.batch_size = 250;
  const VdlTrainOptions opts = resolve_vdl_options(common.model, cfg);
  const torch::Device device = apply_runtime(common);
  VdlData data = load_vdl_data(common.data, common.data_dir, cfg);
  require(data.val.size() > 0, "--val-fraction leaves no validation samples");
  // Before the run folder exists (the loop checks it too, after).
  require(common.batch_size <= data.train.size(),
          "--batch-size " + std::to_string(common.batch_size) + " is larger than the " +
              std::to_string(data.train.size()) + " training samples");
  VdlModel model = make_vdl_model(common.model, cfg, data.dim());
  if (opts.normalize_decoder) model->decoder->normalize_columns(1.0);  // once at construction too
  model->to(device);
  VdlTrainer trainer(model, opts);

  RunDir run(common.out, common.resume);
  run.write_config(resolved_config_toml(common, "vdl", cfg));
  write_model_info(run, {{"model", common.model},
                         {"input_dim", data.dim()},
                         {"channels", data.channels},
                         {"height", data.height},
                         {"width", data.width}});
  LoopSpec spec = loop_spec_from(common);
  spec.dataset_size = data.train.size();
  spec.batch_size = common.batch_size;
  spec.metric = "energy";
  spec.maximize = false;
  spec.unit = "img";
  spec.progress_keys = {"rec_loss", "sparsity", "inference_steps", "psnr", "energy"};
  spec.curves = vdl_curves();
  // The fields of state.json's `extra` this trainer reads on resume (the
  // patience count and the best energy that decides it), typed.
  spec.check_extra = [](const nlohmann::json& extra, const std::string& source) {
    check_extra_integer(extra, "stale_validations", 0, source);
    check_extra_number(extra, "vdl_best_energy", source);
  };
  {
    // The decoder's dictionary (linear: W's columns; non-linear: W₂W₁'s) as
    // images, as the `atoms` analysis draws it.
    const int64_t channels = data.channels, height = data.height, width = data.width;
    spec.pictures = [model, channels, height, width]() mutable {
      torch::NoGradGuard no_grad;
      auto atoms = model->decoder->dictionary().detach().cpu().t().contiguous();  // (l, d)
      const int64_t nrow = std::min<int64_t>(16, atoms.size(0));
      return std::vector<std::pair<std::string, torch::Tensor>>{
          {"atoms/decoder",
           atom_grid(atoms.reshape({atoms.size(0), channels, height, width}), nrow, 56)}};  // (l, C, H, W)
    };
  }
  TrainLoop loop(run, CheckpointParts{model.get(),
                                      {&trainer.decoder_optimizer(), &trainer.encoder_optimizer()},
                                      {}},
                 spec);
  if (common.resume) loop.resume();
  auto train_x = data.train.x.to(device);

  auto step = [&](TrainState& st, const torch::Tensor& idx) -> nlohmann::json {
    if (cfg.patience > 0 && st.extra.value("stale_validations", int64_t(0)) >= cfg.patience)
      throw PatienceExhausted{};
    // The authors' annealing: lr = lr₀ · factor^((epoch + 1) // every) after each epoch,
    // i.e. factor^(epoch // every) during (0-based) epoch `epoch`; decoder only.
    const double scale = cfg.anneal_decoder_every > 0
                             ? std::pow(cfg.anneal_decoder_factor,
                                        static_cast<double>(st.epoch / cfg.anneal_decoder_every))
                             : 1.0;
    trainer.set_lr_scale(scale, 1.0);
    // This rank's shard of the global batch (all of it in one process).
    auto y = train_x.index_select(0, this_rank_rows(idx).to(device));  // (b, d)
    auto j = trainer.step(y).to_json();
    j["lr_decoder"] = opts.lr_decoder * scale;
    return j;
  };
  auto validate = [&](TrainState& st) -> nlohmann::json {
    VdlEvalOptions eo;
    eo.batch_size = common.batch_size;
    LocalScope local;  // every rank evaluates the whole validation split
    auto m = evaluate_vdl(model, data, data.val, opts, eo);
    const double e = m["energy"].get<double>();
    if (!st.extra.contains("vdl_best_energy") || e < st.extra["vdl_best_energy"].get<double>()) {
      st.extra["vdl_best_energy"] = e;
      st.extra["stale_validations"] = 0;
    } else {
      st.extra["stale_validations"] = st.extra.value("stale_validations", int64_t(0)) + 1;
    }
    return m;
  };

  nlohmann::json summary;
  bool early = false;
  try {
    summary = loop.run(step, validate);
  } catch (const PatienceExhausted&) {
    early = true;
    std::cerr << std::endl;
    const auto& st = loop.state();
    summary["steps"] = st.step;
    summary["epochs"] = static_cast<double>(st.step) /
                        static_cast<double>(std::max<int64_t>(1, spec.dataset_size / spec.batch_size));
    summary["last"] = loop.last_validation();
    summary["best_step"] = st.best_step;
    summary["best_energy"] = st.best_metric;
  }
  summary["stopped_by_patience"] = early;

  if (world().root())
    save_weights(run.file("model.safetensors"), *model,
                 {{"model", common.model},
                  {"data", data.name},
                  {"image_shape", std::to_string(data.channels) + "," +
                                      std::to_string(data.height) + "," +
                                      std::to_string(data.width)}});
  world().barrier();  // rank 0's last checkpoints are on disk for every rank
  LocalScope local;   // the test evaluation runs whole on every rank
  // The evaluated model is the best epoch's (lowest validation energy).
  const std::string best = run.checkpoints() + "/best/model.safetensors";
  if (file_exists(best)) load_weights(best, *model);
  VdlEvalOptions te;
  te.batch_size = common.batch_size;
  te.denoise_sigma = cfg.denoise_sigma;
  te.fista = true;
  te.seed = common.seed;
  auto test = evaluate_vdl(model, data, data.test, opts, te);
  test["checkpoint"] = file_exists(best) ? "best" : "final";
  test["split"] = "test";
  test["data"] = data.name;
  test["test_samples"] = data.test.size();
  run.write_json("eval.json", test);
  summary["test"] = test;
  summary["train_samples"] = data.train.size();
  summary["val_samples"] = data.val.size();
  return summary;
}

// ------------------------------------------------------------- run access

VdlRun load_vdl_run(const std::string& dir, const std::string& checkpoint, torch::Device device) {
  VdlRun r;
  r.dir = dir;
  RunFolder run = open_run(dir, checkpoint, "vdl");
  r.common = run.common;
  read_family_config(run, r.config);
  r.options = resolve_vdl_options(r.common.model, r.config);
  r.model = make_vdl_model(r.common.model, r.config, model_info_int(run, "input_dim"));
  load_run_model(run, *r.model, device);
  r.device = device;
  r.channels = model_info_int(run, "channels");
  r.height = model_info_int(run, "height");
  r.width = model_info_int(run, "width");
  return r;
}

}  // namespace sparseloop
