#include "sparseloop/families/sdnet/trainer.h"

#include <cmath>
#include <sstream>

#include "sparseloop/data/registry.h"
#include "sparseloop/data/transforms.h"
#include "sparseloop/engine/batch_norm.h"
#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/engine/gradient_sync.h"
#include "sparseloop/engine/loop.h"
#include "sparseloop/engine/run.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/families/sdnet/report.h"
#include "sparseloop/plot/image_grid.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/random.h"

namespace sparseloop {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// Uniform double in [a, b) from `gen`.
double uniform(torch::Generator& gen, double a, double b) {
  return at::empty({1}, torch::kDouble).uniform_(a, b, gen).item<double>();
}

/// Uniform integer in [0, n).
int64_t randint(torch::Generator& gen, int64_t n) {
  return at::randint(n, {1}, gen, torch::kLong).item<int64_t>();
}

/// torchvision RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3)) of
/// one image (C, H, W) → (C, size, size), bilinear.
torch::Tensor random_resized_crop(const torch::Tensor& img, int64_t size, torch::Generator& gen) {
  const int64_t H = img.size(1), W = img.size(2);
  const double area = static_cast<double>(H * W);
  const double log_lo = std::log(3.0 / 4.0), log_hi = std::log(4.0 / 3.0);
  int64_t h = H, w = W, i = 0, j = 0;
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target = area * uniform(gen, 0.08, 1.0);
    const double ratio = std::exp(uniform(gen, log_lo, log_hi));
    const auto cw = static_cast<int64_t>(std::lround(std::sqrt(target * ratio)));
    const auto ch = static_cast<int64_t>(std::lround(std::sqrt(target / ratio)));
    if (cw > 0 && ch > 0 && cw <= W && ch <= H) {
      h = ch;
      w = cw;
      i = randint(gen, H - h + 1);
      j = randint(gen, W - w + 1);
      found = true;
    }
  }
  if (!found) {
    // Fallback: the central crop with the ratio clamped to [3/4, 4/3].
    const double in_ratio = static_cast<double>(W) / static_cast<double>(H);
    if (in_ratio < 3.0 / 4.0) {
      w = W;
      h = std::lround(w / (3.0 / 4.0));
    } else if (in_ratio > 4.0 / 3.0) {
      h = H;
      w = std::lround(h * (4.0 / 3.0));
    }
    i = (H - h) / 2;
    j = (W - w) / 2;
  }
  auto crop = img.narrow(1, i, h).narrow(2, j, w).unsqueeze(0);  // (1, C, h, w)
  return resize_images(crop, size, size).squeeze(0);             // (C, size, size)
}

/// Geometry from stored (H, W) to (S, S): zero pad when smaller, centre crop when larger.
torch::Tensor fit_geometry(const torch::Tensor& x, int64_t pad, int64_t size) {
  auto out = pad > 0 ? pad_images(x, pad) : x;  // (B, C, H + 2p, W + 2p)
  if (out.size(2) != size || out.size(3) != size) out = center_crop(out, size, size);  // (B, C, S, S)
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Data pipeline

torch::Tensor SdnetData::eval_geometry(const torch::Tensor& x01) const {
  return fit_geometry(x01, pad, image_size);  // (B, C, S, S)
}

torch::Tensor SdnetData::normalize(const torch::Tensor& x01) const {
  return mean.empty() ? x01 : normalize_channels(x01, mean, std);
}

torch::Tensor SdnetData::eval_batch(const ImageDataset& set, const torch::Tensor& indices) const {
  return normalize(eval_geometry(set.batch_float(indices)));  // (B, C, S, S)
}

torch::Tensor SdnetData::train_batch(const torch::Tensor& indices, torch::Generator& gen) const {
  auto x = splits.train.batch_float(indices);  // (B, C, H, W) in [0, 1]
  if (augment == "resized-crop") {
    std::vector<torch::Tensor> crops;
    crops.reserve(x.size(0));
    for (int64_t b = 0; b < x.size(0); ++b)
      crops.push_back(random_resized_crop(x[b], image_size, gen));  // (C, S, S)
    x = torch::stack(crops);                                          // (B, C, S, S)
    x = random_hflip(x, gen);
  } else {
    x = fit_geometry(x, pad, image_size);  // (B, C, S, S)
    if (augment == "crop-flip" || augment == "crop") x = random_crop(x, crop_padding, gen);
    if (augment == "crop-flip") x = random_hflip(x, gen);
  }
  return normalize(x);
}

SdnetData prepare_sdnet_data(DataSplits splits, const std::string& name, const SdnetConfig& cfg) {
  SdnetData d;
  d.name = name;
  d.splits = std::move(splits);
  const auto& train = d.splits.train;
  require(train.size() > 0, "--data " + name + ": the training split is empty");
  require(d.splits.test.size() > 0, "--data " + name + ": the test split is empty");
  require(train.labelled(), "--data " + name + ": SDNet needs labelled images");
  d.channels = train.channels();
  d.num_classes = std::max(train.num_classes, d.splits.test.num_classes);
  require(d.num_classes >= 2, "--data " + name + ": needs at least 2 classes");
  const int64_t stored = train.height();
  require(train.width() == stored, "--data " + name + ": images must be square (got " +
                                       std::to_string(stored) + "×" +
                                       std::to_string(train.width()) + ")");
  const bool folder = name == "folder";
  // Network input size.
  d.image_size = cfg.image_size > 0 ? cfg.image_size
                 : folder            ? 224
                 : name == "mnist"   ? 32
                                     : stored;
  require(d.image_size >= 8, "--image-size " + std::to_string(d.image_size) + ": too small");
  if (d.image_size > stored) {
    require((d.image_size - stored) % 2 == 0,
            "--image-size " + std::to_string(d.image_size) + ": must differ from the stored " +
                std::to_string(stored) + " px by an even number (zero padding on both sides)");
    d.pad = (d.image_size - stored) / 2;
  }
  // Augmentation.
  std::string a = cfg.augment;
  if (a == "auto") a = folder ? "resized-crop" : name == "mnist" ? "crop" : "crop-flip";
  require(a == "crop-flip" || a == "crop" || a == "resized-crop" || a == "none",
          "--augment '" + cfg.augment + "': expected auto, crop-flip, crop, resized-crop or none");
  d.augment = a;
  require(cfg.crop_padding >= 0, "--crop-padding must be >= 0");
  d.crop_padding = cfg.crop_padding;
  // Normalization (authors' train.py: CIFAR statistics for CIFAR-10 and -100,
  // ImageNet statistics for ImageNet; MNIST's usual ones).
  if (cfg.normalize == "auto") {
    if (name == "mnist" && d.channels == 1) {
      d.mean = {0.1307};
      d.std = {0.3081};
    } else if ((name == "cifar10" || name == "cifar100") && d.channels == 3) {
      d.mean = {0.4914, 0.4822, 0.4465};
      d.std = {0.2023, 0.1994, 0.2010};
    } else if ((folder || name == "stl10") && d.channels == 3) {
      d.mean = {0.485, 0.456, 0.406};
      d.std = {0.229, 0.224, 0.225};
    }
  } else if (cfg.normalize != "none") {
    const auto slash = cfg.normalize.find('/');
    require(slash != std::string::npos,
            "--normalize '" + cfg.normalize + "': expected auto, none or m1,m2,m3/s1,s2,s3");
    d.mean = parse_number_list(cfg.normalize.substr(0, slash), "--normalize");
    d.std = parse_number_list(cfg.normalize.substr(slash + 1), "--normalize");
    require(static_cast<int64_t>(d.mean.size()) == d.channels &&
                static_cast<int64_t>(d.std.size()) == d.channels,
            "--normalize '" + cfg.normalize + "': give one mean and one std per channel (" +
                std::to_string(d.channels) + ")");
    for (double s : d.std) require(s > 0, "--normalize '" + cfg.normalize + "': std must be > 0");
  }
  return d;
}

SdnetData load_sdnet_data(const CommonTrainConfig& common, const SdnetConfig& cfg) {
  const std::string& name = common.data;
  require(name == "mnist" || name == "cifar10" || name == "cifar100" || name == "stl10" ||
              name == "folder",
          "--data '" + name + "': SDNet trains on mnist, cifar10, cifar100, stl10 or folder");
  // STL-10 at the network's size (96 by default); folders stored at
  // --load-size, uncropped (training crops at random, testing at the centre).
  DatasetOptions o;
  o.stl10_size = cfg.image_size > 0 ? cfg.image_size : 96;
  o.folder.crop = 0;
  o.folder.size = cfg.load_size;
  o.folder.channels = 3;
  if (name == "folder")
    require(cfg.load_size >= (cfg.image_size > 0 ? cfg.image_size : 224),
            "--load-size " + std::to_string(cfg.load_size) + ": must be >= --image-size");
  return prepare_sdnet_data(load_dataset_by_name(name, common.data_dir, o), name, cfg);
}

// ---------------------------------------------------------------------------
// Model

CscOptions sdnet_csc(const SdnetConfig& cfg) {
  const CscOptions& c = cfg.csc;
  require(c.lambda() >= 0, "--csc-lambda must be >= 0");
  require(c.steps() >= 1, "--csc-steps must be >= 1");
  require(c.step_factor() > 0 && c.step_factor() < 2,
          "--csc-step-factor must be in (0, 2) (FISTA converges for steps below 1/L)");
  require(c.power_iterations() >= 1, "--power-iterations must be >= 1");
  require(c.power_tolerance() >= 0, "--power-tolerance must be >= 0");
  require(c.restart_threshold() >= 0, "--restart-threshold must be >= 0");
  return c;
}

Sdnet build_sdnet(const std::string& model, const SdnetConfig& cfg, int64_t in_channels,
                  int64_t num_classes, int64_t image_size) {
  SdnetOptions o = sdnet_options_for(model);
  require(cfg.width >= 1, "--width must be >= 1");
  o.width = cfg.width;
  o.in_channels = in_channels;
  o.num_classes = num_classes;
  o.shortcut = !cfg.no_shortcut;
  o.stem = cfg.stem == "auto" ? (image_size >= 128 ? StemKind::kImagenet : StemKind::kCifar)
                              : parse_stem(cfg.stem);
  o.csc = sdnet_csc(cfg);
  // The smallest feature map must be ≥ 1 px: 8× (CIFAR stem) or 32× (ImageNet) downsampling.
  const int64_t down = o.stem == StemKind::kCifar ? 8 : 32;
  require(image_size >= down, "--image-size " + std::to_string(image_size) + ": the " +
                                  to_string(o.stem) + " stem needs at least " +
                                  std::to_string(down) + " px");
  return Sdnet(o);
}

// ---------------------------------------------------------------------------
// Evaluation and schedule

ClassifierMetrics evaluate_classifier(Sdnet& model, const SdnetData& data, const ImageDataset& set,
                                      torch::Device device, int64_t batch_size, int64_t limit) {
  require(batch_size > 0, "--batch-size must be positive");
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t n = limit > 0 ? std::min(limit, set.size()) : set.size();
  const int64_t k = std::min<int64_t>(5, data.num_classes);
  // Each rank evaluates its shard of the images; the counts are summed.
  const auto [first, last] = shard_range(n, world().rank(), world().size());
  int64_t correct1 = 0, correct5 = 0;
  double loss_sum = 0.0;
  for (int64_t start = first; start < last; start += batch_size) {
    const int64_t b = std::min(batch_size, last - start);
    auto idx = torch::arange(start, start + b, torch::kLong);
    auto x = data.eval_batch(set, idx).to(device);                  // (b, C, S, S)
    auto y = set.batch_labels(idx).to(device);                      // (b,)
    auto logits = model->forward(x);                                // (b, classes)
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    auto topk = std::get<1>(logits.topk(k, 1));                     // (b, k)
    auto hits = topk.eq(y.unsqueeze(1));                            // (b, k)
    correct1 += hits.narrow(1, 0, 1).sum().item<int64_t>();
    correct5 += hits.any(1).sum().item<int64_t>();
  }
  auto totals = torch::tensor({static_cast<double>(correct1), static_cast<double>(correct5), loss_sum},
                              torch::kDouble);
  world().allreduce_sum(totals);
  if (was_training) model->train();
  ClassifierMetrics m;
  m.samples = n;
  if (n > 0) {
    m.top1 = 100.0 * totals[0].item<double>() / static_cast<double>(n);
    m.top5 = 100.0 * totals[1].item<double>() / static_cast<double>(n);
    m.loss = totals[2].item<double>() / static_cast<double>(n);
  }
  return m;
}

double sdnet_learning_rate(const SdnetConfig& cfg, int64_t step, int64_t total_steps,
                           int64_t steps_per_epoch) {
  if (cfg.schedule == "cosine") {
    // CosineAnnealingLR(T_max = total, eta_min) stepped every iteration.
    const double t = static_cast<double>(std::min(step, total_steps)) /
                     static_cast<double>(std::max<int64_t>(1, total_steps));
    return cfg.lr_min + (cfg.lr - cfg.lr_min) * 0.5 * (1.0 + std::cos(kPi * t));
  }
  if (cfg.schedule == "multistep") {
    // MultiStepLR(milestones, gamma) stepped every epoch.
    const int64_t epoch = step / std::max<int64_t>(1, steps_per_epoch);
    double lr = cfg.lr;
    for (double m : parse_number_list(cfg.milestones, "--milestones"))
      if (static_cast<double>(epoch) >= m) lr *= cfg.gamma;
    return lr;
  }
  throw InputError("--schedule '" + cfg.schedule + "': expected cosine or multistep");
}

// ---------------------------------------------------------------------------
// Training

namespace {

/// The flags a run uses whatever its data, checked before a dataset is read
/// (several were checked only where used, after the run folder existed, or
/// not at all: a negative --lr-min, --test-limit or --image-size, milestones
/// that are not numbers under the cosine schedule trained on silently).
void check_sdnet_flags(const CommonTrainConfig& common, const SdnetConfig& cfg) {
  sdnet_options_for(common.model);
  sdnet_csc(cfg);
  sdnet_learning_rate(cfg, 0, 1, 1);
  require(cfg.width >= 1, "--width must be >= 1");
  if (cfg.stem != "auto") parse_stem(cfg.stem);
  require(cfg.lr > 0, "--lr must be > 0");
  require(cfg.lr_min >= 0, "--lr-min must be >= 0");
  require(cfg.momentum >= 0 && cfg.momentum < 1, "--momentum must be in [0, 1)");
  require(cfg.weight_decay >= 0, "--weight-decay must be >= 0");
  require(cfg.gamma > 0, "--gamma must be > 0");
  for (double m : parse_number_list(cfg.milestones, "--milestones"))
    require(m >= 0 && m == std::floor(m),
            "--milestones '" + cfg.milestones + "': epochs must be whole numbers >= 0");
  require(cfg.image_size >= 0, "--image-size must be >= 0 (0: the data's)");
  require(cfg.load_size >= 1, "--load-size must be >= 1");
  require(cfg.crop_padding >= 0, "--crop-padding must be >= 0");
  require(cfg.test_batch_size > 0, "--test-batch-size must be positive");
  require(cfg.test_limit >= 0, "--test-limit must be >= 0 (0: all)");
}

}  // namespace

nlohmann::json train_sdnet(const CommonTrainConfig& common, const SdnetConfig& cfg) {
  // Validate everything cheap before reading a dataset.
  check_sdnet_flags(common, cfg);
  return train_sdnet_on(common, cfg, load_sdnet_data(common, cfg));
}

nlohmann::json train_sdnet_on(const CommonTrainConfig& common_in, const SdnetConfig& cfg,
                              const SdnetData& data) {
  CommonTrainConfig common = common_in;
  if (common.batch_size <= 0) common.batch_size = 128;
  require(cfg.lr > 0, "--lr must be > 0");
  require(cfg.momentum >= 0 && cfg.momentum < 1, "--momentum must be in [0, 1)");
  require(cfg.weight_decay >= 0, "--weight-decay must be >= 0");
  require(cfg.test_batch_size > 0, "--test-batch-size must be positive");
  require(cfg.check_step_every >= 0 &&
              (cfg.check_step_every == 0 ||
               (common.log_every > 0 && cfg.check_step_every % common.log_every == 0)),
          "--check-step-every " + std::to_string(cfg.check_step_every) +
              ": must be a multiple of --log-every (its value is logged with that step)");
  require(!(cfg.no_nesterov == false && cfg.momentum == 0),
          "--momentum 0 with Nesterov: give --no-nesterov or a positive --momentum");
  const torch::Device device = apply_runtime(common);
  RunDir run(common.out, common.resume);
  run.write_config(resolved_config_toml(common, "sdnet", cfg));

  Sdnet model = build_sdnet(common.model, cfg, data.channels, data.num_classes, data.image_size);
  write_model_info(run, {{"model", common.model},
                         {"channels", data.channels},
                         {"num_classes", data.num_classes},
                         {"image_size", data.image_size}});
  model->to(device);
  // Authors' train.py: SGD over all parameters (dictionaries, BN, fc), weight decay on all.
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(cfg.lr)
                                  .momentum(cfg.momentum)
                                  .nesterov(!cfg.no_nesterov)
                                  .weight_decay(cfg.weight_decay));

  LoopSpec spec = loop_spec_from(common);
  spec.dataset_size = data.splits.train.size();
  spec.batch_size = common.batch_size;
  spec.metric = "top1";
  spec.maximize = true;
  spec.progress_keys = {"loss", "top1"};
  spec.curves = sdnet_curves();
  if (model->stem_csc()) {
    // The stem's atoms, in image space (width, channels, k, k).
    spec.pictures = [model] {
      torch::NoGradGuard no_grad;
      return std::vector<std::pair<std::string, torch::Tensor>>{
          {"atoms/stem", atom_grid(model->stem_csc()->dictionary().detach().cpu(), 16, 28)}};
    };
  }
  CheckpointParts parts;
  parts.model = model.get();
  parts.optimizers = {&optimizer};
  TrainLoop loop(run, parts, spec);
  if (common.resume) loop.resume();
  GradientSync grad_sync(model->parameters());  // data-parallel: gradients summed over ranks
  const int64_t per_epoch = loop.sampler().batches_per_epoch();
  const int64_t total = loop.total_steps();
  sdnet_learning_rate(cfg, 0, total, per_epoch);  // validates --schedule / --milestones

  auto step = [&](TrainState& state, const torch::Tensor& indices) {
    model->train();
    const double lr = sdnet_learning_rate(cfg, state.step, total, per_epoch);
    for (auto& g : optimizer.param_groups())
      static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
    // Augmentation noise depends only on (seed, step): resumable. Every rank
    // augments the whole global batch the same way and keeps its shard, so N
    // ranks see exactly the images one process would.
    torch::Generator gen = make_generator(common.seed, /*stream=*/0x5d7e7, state.step);
    const int64_t global = indices.size(0);
    auto x = this_rank_rows(data.train_batch(indices, gen)).to(device);           // (b, C, S, S)
    auto y = data.splits.train.batch_labels(this_rank_rows(indices)).to(device);  // (b,)
    auto logits = model->forward(x);                                              // (b, classes)
    // This rank's share of the global batch's mean cross-entropy.
    auto loss = torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
                static_cast<double>(global);
    nlohmann::json m;
    // Diagnostic: the steps η just used against the exact L of the same dictionaries.
    if (cfg.check_step_every > 0 && (state.step + 1) % cfg.check_step_every == 0)
      m["max_step_times_L"] = model->max_step_times_lipschitz();
    optimizer.zero_grad();
    grad_sync.begin();
    loss.backward();
    grad_sync.finish();
    optimizer.step();
    model->project_atoms();
    // The global batch's loss and accuracy (sums over the ranks).
    auto totals = torch::stack({loss.detach().to(torch::kCPU, torch::kDouble),
                                logits.argmax(1).eq(y).sum().to(torch::kCPU, torch::kDouble)});
    world().allreduce_sum(totals);
    m["loss"] = totals[0].item<double>();
    m["top1"] = 100.0 * totals[1].item<double>() / static_cast<double>(global);
    m["lr"] = lr;
    if (auto stem = model->stem_csc()) m["stem_step"] = stem->step();
    if (!model->csc_layers().empty()) {
      int64_t iterations = 0, cold = 0;
      for (const auto& l : model->csc_layers()) {
        iterations += l->last_power_iterations();
        cold += l->last_power_iterations() > 0 && l->last_cold_restart();
      }
      m["power_iterations"] = iterations;  // summed over layers, this step's forward
      m["cold_restarts"] = cold;           // layers whose L this forward re-estimated cold
    }
    return m;
  };
  // Fixed training images (test-time geometry) for the BatchNorm statistics of
  // evaluation (engine/batch_norm.h): up to 8 batches, at most 2048 images.
  std::vector<torch::Tensor> stat_batches;
  for (const auto& idx : statistics_batch_indices(data.splits.train.size(), common.batch_size,
                                                  mix_seed(common.seed, 0xb4)))
    stat_batches.push_back(data.eval_batch(data.splits.train, idx).to(device));
  auto recalibrate = [&] {
    recalibrate_batch_norm(*model, stat_batches, [&](const torch::Tensor& x) { model->forward(x); });
  };
  auto validate = [&](TrainState&) {
    recalibrate();  // statistics of the current weights, not the lagging average
    auto r = evaluate_classifier(model, data, data.splits.test, device, cfg.test_batch_size,
                                 cfg.test_limit);
    nlohmann::json m;
    m["top1"] = r.top1;
    m["top5"] = r.top5;
    m["loss"] = r.loss;
    m["samples"] = r.samples;
    return m;
  };
  nlohmann::json summary = loop.run(step, validate);
  recalibrate();
  if (world().root())
    save_weights(run.file("model.safetensors"), *model,
                 {{"model", common.model}, {"family", "sdnet"}});
  summary["model"] = common.model;
  summary["parameters"] = [&] {
    int64_t n = 0;
    for (const auto& p : model->parameters()) n += p.numel();
    return n;
  }();
  run.write_json("summary.json", summary);
  return summary;
}

// ---------------------------------------------------------------------------
// Runs

SdnetRun load_sdnet_run(const std::string& run_dir, const std::string& checkpoint,
                        torch::Device device, const std::string& data_override,
                        const std::string& data_dir_override) {
  SdnetRun r;
  // The run and its weights file first: a bad --checkpoint fails before the data is read.
  RunFolder run = open_run(run_dir, checkpoint, "sdnet");
  r.common = run.common;
  read_family_config(run, r.config);
  if (!data_override.empty()) r.common.data = data_override;
  if (!data_dir_override.empty()) r.common.data_dir = data_dir_override;
  const int64_t channels = model_info_int(run, "channels");
  const int64_t classes = model_info_int(run, "num_classes");
  const int64_t size = model_info_int(run, "image_size");
  r.data = load_sdnet_data(r.common, r.config);
  require(r.data.channels == channels && r.data.num_classes == classes &&
              r.data.image_size == size,
          "--data " + r.common.data + ": " + std::to_string(r.data.channels) + "×" +
              std::to_string(r.data.image_size) + "² images in " +
              std::to_string(r.data.num_classes) + " classes, but the run's model takes " +
              std::to_string(channels) + "×" + std::to_string(size) + "² in " +
              std::to_string(classes));
  r.model = build_sdnet(r.common.model, r.config, channels, classes, size);
  // The CSC layers' buffers hold L with the dictionary it was estimated for:
  // evaluation uses that L where it belongs to these weights (csc_layer.h).
  load_run_model(run, *r.model, device);
  return r;
}

// ---------------------------------------------------------------------------
// Presets

std::vector<Preset> sdnet_presets() {
  std::vector<Preset> p;
  const ConfigValues cifar = {{"data", "cifar10"},      {"epochs", "220"},
                              {"batch-size", "128"},    {"lr", "0.1"},
                              {"momentum", "0.9"},      {"weight-decay", "5e-4"},
                              {"schedule", "cosine"},   {"lr-min", "1e-6"},
                              {"augment", "crop-flip"}, {"crop-padding", "4"},
                              {"csc-lambda", "0.1"},    {"csc-steps", "2"},
                              {"stem", "cifar"},        {"test-batch-size", "128"}};
  p.push_back({"cifar10-sdnet", "sdnet18",
               "SDNet on CIFAR-10 (Dai et al. NeurIPS 2022, experiments/cifar10.yaml): SGD "
               "Nesterov lr 0.1, wd 5e-4, batch 128, 220 epochs, cosine per iteration; reported "
               "top-1 95.34 (SDNet-18), 95.02 (SDNet-18-all)",
               cifar});
  ConfigValues c100 = cifar;
  c100["data"] = "cifar100";
  p.push_back({"cifar100-sdnet", "sdnet18",
               "SDNet on CIFAR-100 (experiments/cifar100.yaml): as cifar10-sdnet; reported top-1 "
               "78.45 (SDNet-18), 77.89 (SDNet-18-all)",
               c100});
  p.push_back({"imagenet-sdnet", "sdnet18",
               "SDNet on ImageNet folders (experiments/ImageNet.yaml): SGD lr 0.1 (no Nesterov), "
               "wd 1e-4, batch 512, 100 epochs, lr ×0.1 at 30/60/90, random resized crop 224 + "
               "flip, test resize 256 + centre crop 224; reported top-1 69.78 (SDNet-18)",
               {{"data", "folder"},
                {"epochs", "100"},
                {"batch-size", "512"},
                {"lr", "0.1"},
                {"momentum", "0.9"},
                {"no-nesterov", "true"},
                {"weight-decay", "1e-4"},
                {"schedule", "multistep"},
                {"milestones", "30,60,90"},
                {"gamma", "0.1"},
                {"augment", "resized-crop"},
                {"image-size", "224"},
                {"load-size", "256"},
                {"stem", "imagenet"},
                {"csc-lambda", "0.1"},
                {"csc-steps", "2"}}});
  // The digits are scaled by MNIST's std but not centred: the black background
  // stays 0, which the CSC model explains with zero codes. Centred (x − 0.1307)
  // it becomes a constant the stem learns to detect with DC atoms; clipped
  // noise shifts that constant, no λ can undo the shift, and the test-time λ of
  // robust inference then fails (docs/sdnet.md, "Why the digits are not centred").
  p.push_back({"mnist-sdnet", "sdnet18",
               "Reduced CPU budget on the embedded MNIST digits (docs/sdnet.md): 32×32 "
               "(zero-padded), 1 channel, scaled by 1/0.3081 but not centred (background 0), "
               "width 16, 6 epochs, batch 128, SGD Nesterov lr 0.05, wd 5e-4, cosine per "
               "iteration, random crop (pad 4, no flip: digits are not symmetric)",
               {{"data", "mnist"},
                {"epochs", "6"},
                {"normalize", "0/0.3081"},
                {"batch-size", "128"},
                {"width", "16"},
                {"lr", "0.05"},
                {"momentum", "0.9"},
                {"weight-decay", "5e-4"},
                {"schedule", "cosine"},
                {"lr-min", "1e-6"},
                {"augment", "crop"},
                {"crop-padding", "4"},
                {"image-size", "32"},
                {"stem", "cifar"},
                {"csc-lambda", "0.1"},
                {"csc-steps", "2"}}});
  return p;
}

}  // namespace sparseloop
