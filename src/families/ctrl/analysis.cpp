#include "sparseloop/families/ctrl/analysis.h"

#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>

#include "sparseloop/data/registry.h"
#include "sparseloop/data/transforms.h"
#include "sparseloop/engine/denoise.h"
#include "sparseloop/engine/progress.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/engine/run_report.h"
#include "sparseloop/families/ctrl/fid.h"
#include "sparseloop/families/ctrl/nearest_subspace.h"
#include "sparseloop/families/ctrl/rate_reduction.h"
#include "sparseloop/families/ctrl/reference_classifier.h"
#include "sparseloop/families/ctrl/trainer.h"
#include "sparseloop/io/png.h"
#include "sparseloop/metrics/image_quality.h"
#include "sparseloop/plot/image_grid.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/plot/report.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/log.h"
#include "sparseloop/util/random.h"

namespace sparseloop {
namespace {

/// A request with `out` resolved to the folder the command writes into.
struct CtrlAnalysisOptions : AnalysisRequest {};

/// Everything an analysis needs: the model, the data as the model sees it,
/// and (for labelled data) the independent classifier.
struct Context {
  CtrlRun run;
  CtrlData data;
  ImageDataset test;    ///< evaluation images (the run's classes)
  ImageDataset unseen;  ///< test images of the classes the run never saw (may be empty)
  bool labelled = false;
  ReferenceClassifier judge;
  std::string out;
};

Context load_context(const std::string& run_dir, const CtrlAnalysisOptions& o, bool need_judge) {
  Context c;
  c.run = load_ctrl_run(run_dir, o.checkpoint, o.device);
  CommonTrainConfig common = c.run.common;
  CtrlConfig config = c.run.config;
  const bool override_data = !o.data.empty() || !o.data_dir.empty();
  if (!o.data.empty()) common.data = o.data;
  if (!o.data_dir.empty()) common.data_dir = o.data_dir;
  if (override_data) config.classes.clear();  // another dataset: all of its classes
  config.val_size = 1;
  c.data = load_ctrl_data(common, config);
  require(c.data.size == c.run.model->image_size() &&
              c.data.test.channels() == c.run.model->image_channels(),
          "--data " + common.data + ": images of " + std::to_string(c.data.test.channels()) + "×" +
              std::to_string(c.data.size) + " px do not fit this model (" +
              std::to_string(c.run.model->image_channels()) + "×" +
              std::to_string(c.run.model->image_size()) + ")");
  c.test = c.data.test.spread(o.limit);
  require(c.test.size() > 0, "the test split of --data " + common.data + " is empty");
  c.labelled = c.test.labelled();
  if (!override_data && !config.classes.empty()) {
    auto full = load_dataset_by_name(common.data, common.data_dir);
    std::vector<int64_t> seen;
    std::stringstream ss(config.classes);
    std::string item;
    while (std::getline(ss, item, ',')) seen.push_back(std::stoll(item));
    std::vector<int64_t> rest;
    for (int64_t k = 0; k < full.test.num_classes; ++k)
      if (std::find(seen.begin(), seen.end(), k) == seen.end()) rest.push_back(k);
    c.unseen = full.test.with_classes(rest).spread(o.limit);
  }
  if (need_judge && c.labelled) {
    auto full = load_dataset_by_name(common.data, common.data_dir);
    const CtrlData& d = c.data;
    auto prep = [&d](const torch::Tensor& x01) {
      auto x = x01;
      if (x.size(2) != d.size)
        x = (x.size(2) == 28 && d.size == 32 && d.mnist_to_32 == "pad")
                ? pad_images(x, 2)
                : resize_images(x, d.size, d.size);
      return to_signed(x);
    };
    c.judge = reference_classifier(full.train, full.test, prep,
                                   reference_classifier_path(common.data, common.data_dir, d.size),
                                   o.device, config.classifier_epochs, 0);
  }
  c.out = o.out.empty() ? run_dir : o.out;
  make_dirs(c.out);
  return c;
}

struct Pass {
  torch::Tensor x, xh, z, zh, labels;  ///< CPU tensors
  double sparsity = 0;
};

/// X, X̂ = g(f(X)), Z, Ẑ = f(X̂) for a whole dataset, batch by batch; with
/// `features_only`, Z alone (x, xh and zh left empty): the nearest-subspace
/// fit needs only the training features, and decoding and re-encoding 5 000
/// training images for nothing was two thirds of its cost.
Pass closed_loop(Context& c, const ImageDataset& d, int64_t batch, torch::Device device,
                 bool with_sparsity = true, bool features_only = false) {
  torch::NoGradGuard no_grad;
  auto& model = *c.run.model;
  model.eval();
  std::vector<torch::Tensor> xs, xhs, zs, zhs;
  double sparsity = 0;
  int64_t batches = 0;
  // Never silent (issue 14): a line with rate and ETA for passes of more than
  // a few batches (the figures' handful of images stay quiet).
  const int64_t total = (d.size() + batch - 1) / batch;
  std::optional<Progress> progress;
  if (total > 4) progress.emplace(features_only ? "features" : "closed loop", total, "img");
  for (int64_t i = 0; i < d.size(); i += batch) {
    auto idx = torch::arange(i, std::min(d.size(), i + batch), torch::kLong);
    auto x = c.data.prepare(d, idx).to(device);  // (B, C, S, S) in [−1, 1]
    auto z = model.encode(x);                     // (B, d)
    zs.push_back(z.cpu());
    if (!features_only) {
      auto xh = model.decode(z);
      xs.push_back(x.cpu());
      xhs.push_back(xh.cpu());
      zhs.push_back(model.encode(xh).cpu());
      if (with_sparsity && batches < 4) {
        sparsity += model.code_sparsity(x);
        ++batches;
      }
    }
    if (progress) progress->update(i / batch + 1, idx.numel());
  }
  if (progress) progress->finish();
  auto cat = [](const std::vector<torch::Tensor>& v) {
    return v.empty() ? torch::Tensor() : torch::cat(v);  // features_only: x, xh, zh stay empty
  };
  Pass p{cat(xs), cat(xhs), cat(zs), cat(zhs), {}, 0};
  if (d.labelled()) p.labels = d.batch_labels(torch::arange(d.size(), torch::kLong));
  p.sparsity = batches ? sparsity / batches : 0.0;
  return p;
}

nlohmann::json image_metrics(const Pass& p) {
  nlohmann::json m;
  m["psnr"] = psnr_per_sample(to_unit(p.xh), to_unit(p.x), 1.0).mean().item<double>();
  m["ssim"] = ssim(p.xh, p.x, 2.0);
  m["mse"] = mse(to_unit(p.xh), to_unit(p.x));
  m["images"] = p.x.size(0);
  // What knowing only a little of each image scores, measured the same way (issue 14).
  auto score = [&](const torch::Tensor& b) {
    return nlohmann::json{{"psnr", psnr_per_sample(to_unit(b), to_unit(p.x), 1.0).mean().item<double>()},
                          {"ssim", ssim(b, p.x, 2.0)}};
  };
  m["baselines"] = {{"mean_colour", score(mean_colour_baseline(p.x))},
                    {"thumbnail_4", score(thumbnail_baseline(p.x, 4))},
                    {"thumbnail_8", score(thumbnail_baseline(p.x, 8))}};
  return m;
}

torch::Tensor grid_rows(const std::vector<torch::Tensor>& rows, const std::vector<std::string>& labels) {
  std::vector<torch::Tensor> unit;
  for (const auto& r : rows) unit.push_back(normalize_images(r, -1.0, 1.0));
  return image_grid_with_rows(unit, labels);
}

/// A balanced selection: up to `per_class` images of each class, in class order.
torch::Tensor per_class_indices(const torch::Tensor& labels, int64_t classes, int64_t per_class) {
  std::vector<int64_t> out;
  auto y = labels.accessor<int64_t, 1>();
  for (int64_t k = 0; k < classes; ++k) {
    int64_t taken = 0;
    for (int64_t i = 0; i < labels.size(0) && taken < per_class; ++i)
      if (y[i] == k) {
        out.push_back(i);
        ++taken;
      }
  }
  return torch::tensor(out, torch::kLong);
}

std::pair<torch::Tensor, torch::Tensor> inception_outputs(torch::jit::script::Module& net,
                                                          const torch::Tensor& images,
                                                          torch::Device device) {
  // The network takes (B, 3, 299, 299) in [−1, 1] and returns (features, logits).
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> feats, logits;
  for (int64_t i = 0; i < images.size(0); i += 100) {
    auto x = images.narrow(0, i, std::min<int64_t>(100, images.size(0) - i)).to(device);
    if (x.size(1) == 1) x = x.expand({x.size(0), 3, x.size(2), x.size(3)});
    x = resize_images(x, 299, 299);
    auto out = net.forward({x});
    require(out.isTuple() && out.toTuple()->elements().size() >= 2,
            "--inception: the network must return a tuple (features, logits)");
    feats.push_back(out.toTuple()->elements()[0].toTensor().flatten(1).cpu());
    logits.push_back(out.toTuple()->elements()[1].toTensor().flatten(1).cpu());
  }
  return {torch::cat(feats), torch::cat(logits)};
}

}  // namespace

static nlohmann::json evaluate_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& o,
                                    const std::string& inception = "") {
  Context c = load_context(run_dir, o, true);
  Pass p = closed_loop(c, c.test, o.batch_size, o.device);
  nlohmann::json r = image_metrics(p);
  r["model"] = c.run.common.model;
  r["checkpoint"] = o.checkpoint;
  r["code_sparsity"] = p.sparsity;
  r["delta_r"] = rate_reduction(p.z, p.zh).item<double>();
  if (c.labelled) {
    r["consistency_accuracy"] = classifier_accuracy(c.judge.net, p.xh, p.labels);
    r["classifier_accuracy_on_real"] = c.judge.test_accuracy;
    // Nearest subspace: class subspaces fitted to the training features.
    // 10 subspaces of dimension 10 are fitted well by 5 000 features; the
    // whole training split (60 000 for MNIST-sized sets) made eval take
    // minutes for no change in the third decimal (issue 14).
    auto train = c.data.train.spread(o.limit > 0 ? 4 * o.limit : 5000);
    Pass tp = closed_loop(c, train, o.batch_size, o.device, false, /*features_only=*/true);
    const int64_t K = c.test.num_classes;
    r["nearest_subspace_accuracy"] =
        nearest_subspace_accuracy(tp.z, tp.labels, p.z, p.labels, K, 10, true);
    r["nearest_subspace_accuracy_uncentred"] =
        nearest_subspace_accuracy(tp.z, tp.labels, p.z, p.labels, K, 10, false);
  }
  if (c.unseen.size() > 0) {
    Pass u = closed_loop(c, c.unseen, o.batch_size, o.device, false);
    nlohmann::json un = image_metrics(u);
    if (c.labelled) un["consistency_accuracy"] = classifier_accuracy(c.judge.net, u.xh, u.labels);
    r["unseen"] = un;
  }
  if (!inception.empty()) {
    require(file_exists(inception), "--inception " + inception + ": no such file");
    torch::jit::script::Module net;
    try {
      net = torch::jit::load(inception, o.device);
    } catch (const c10::Error& e) {
      throw InputError("--inception " + inception + ": not a TorchScript module (" +
                       std::string(e.what_without_backtrace()).substr(0, 100) + ")");
    }
    net.eval();
    auto real = inception_outputs(net, p.x, o.device);
    auto fake = inception_outputs(net, p.xh, o.device);
    r["fid"] = frechet_distance(gaussian_stats(real.first), gaussian_stats(fake.first));
    auto is = inception_score(fake.second, std::min<int64_t>(10, p.x.size(0)));
    r["inception_score"] = is.first;
    r["inception_score_std"] = is.second;
  }
  write_file_atomic(run_dir + "/eval.json", r.dump(2) + "\n");
  if (c.out != run_dir) write_file_atomic(c.out + "/eval.json", r.dump(2) + "\n");
  return r;
}

static nlohmann::json reconstruct_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& o,
                                int64_t count) {
  require(count >= 1, "--count must be >= 1");
  Context c = load_context(run_dir, o, false);
  const int64_t per_row = std::min<int64_t>(16, count);
  auto pick = [&](const ImageDataset& d) {
    if (d.labelled()) {
      // ⌈count / classes⌉ per class, then the first `count` of them.
      const int64_t classes = std::max<int64_t>(1, d.num_classes);
      auto idx = per_class_indices(d.batch_labels(torch::arange(d.size(), torch::kLong)),
                                   d.num_classes, (count + classes - 1) / classes);
      return idx.narrow(0, 0, std::min<int64_t>(count, idx.size(0)));
    }
    return torch::arange(std::min(count, d.size()), torch::kLong);
  };
  nlohmann::json r;
  auto save = [&](const ImageDataset& d, const std::string& name) {
    auto idx = pick(d);
    Pass p = closed_loop(c, d.subset(idx), o.batch_size, o.device, false);
    std::vector<torch::Tensor> rows;
    std::vector<std::string> labels;
    for (int64_t i = 0; i < p.x.size(0); i += per_row) {
      const int64_t n = std::min(per_row, p.x.size(0) - i);
      rows.push_back(p.x.narrow(0, i, n));
      labels.push_back("input");
      rows.push_back(p.xh.narrow(0, i, n));
      labels.push_back("g(f(x))");
    }
    const std::string path = c.out + "/" + name + ".png";
    write_png(path, grid_rows(rows, labels));
    r[name] = {{"file", path}, {"images", p.x.size(0)}, {"metrics", image_metrics(p)}};
  };
  save(c.test, "reconstruct");
  if (c.unseen.size() > 0) save(c.unseen, "reconstruct_unseen");
  write_file_atomic(c.out + "/reconstruct.json", r.dump(2) + "\n");
  return r;
}

static nlohmann::json denoise_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& o,
                                   double sigma, const std::vector<double>& lambdas) {
  Context c = load_context(run_dir, o, false);
  auto& model = *c.run.model;
  const double trained_lambda = model.lambda();
  model.eval();
  DenoiseProblem p;
  p.sigma = sigma;
  p.lambdas = lambdas;
  p.trained_lambda = trained_lambda;
  p.samples = c.test.size();
  p.batch_size = o.batch_size;
  p.seed = o.seed;
  p.out = c.out;
  p.lambda_label = "λ of the CSC layers";
  p.clean = [&](int64_t start, int64_t count) {
    return c.data.prepare(c.test, torch::arange(start, start + count, torch::kLong)).to(o.device);
  };
  p.to_pixels = [](const torch::Tensor& x, int64_t) { return to_unit(x.clamp(-1, 1)); };
  p.reconstruct = [&](const torch::Tensor& noisy, double lambda) {
    model.set_lambda(lambda);
    auto xh = model.decode(model.encode(noisy));
    model.set_lambda(trained_lambda);
    return std::make_pair(xh, torch::Tensor());
  };
  return denoise_by_lambda(p);
}

static nlohmann::json interpolate_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& o,
                                int64_t pairs, int64_t steps) {
  require(pairs >= 1 && steps >= 2, "--pairs must be >= 1 and --steps >= 2");
  Context c = load_context(run_dir, o, false);
  auto& model = *c.run.model;
  torch::NoGradGuard no_grad;
  model.eval();
  auto gen = make_generator(o.seed, 0x1A7Eu);
  auto perm = torch::randperm(c.test.size(), gen, torch::kLong);
  require(c.test.size() >= 2 * pairs, "--pairs: not enough test images");
  std::vector<torch::Tensor> rows;
  std::vector<std::string> labels;
  for (int64_t p = 0; p < pairs; ++p) {
    auto idx = perm.narrow(0, 2 * p, 2);
    auto x = c.data.prepare(c.test, idx).to(o.device);   // (2, C, S, S)
    auto z = model.encode(x);                             // (2, d)
    std::vector<torch::Tensor> zs;
    for (int64_t s = 0; s < steps; ++s) {
      const double a = static_cast<double>(s) / (steps - 1);
      auto zi = a * z[1] + (1 - a) * z[0];                // eq. 17
      zs.push_back(zi / zi.norm().clamp_min(1e-12));      // back onto the sphere
    }
    auto xh = model.decode(torch::stack(zs)).cpu();       // (steps, C, S, S)
    rows.push_back(torch::cat({x[0].unsqueeze(0).cpu(), xh, x[1].unsqueeze(0).cpu()}));
    labels.push_back("pair " + std::to_string(p + 1));
  }
  const std::string path = c.out + "/interpolate.png";
  write_png(path, grid_rows(rows, labels));
  nlohmann::json r = {{"file", path}, {"pairs", pairs}, {"steps", steps},
                      {"layout", "x1, decoded interpolants α = 0…1, x2"}};
  write_file_atomic(c.out + "/interpolate.json", r.dump(2) + "\n");
  return r;
}

static nlohmann::json pca_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& o,
                        int64_t components, int64_t per_component) {
  require(components >= 1 && per_component >= 1, "--components and --per-component must be >= 1");
  Context c = load_context(run_dir, o, false);
  require(c.labelled, "pca needs a labelled dataset (per-class components)");
  Pass p = closed_loop(c, c.test, o.batch_size, o.device, false);
  auto& model = *c.run.model;
  torch::NoGradGuard no_grad;
  nlohmann::json classes = nlohmann::json::array();
  for (int64_t k = 0; k < c.test.num_classes; ++k) {
    auto idx = (p.labels == k).nonzero().squeeze(1);
    if (idx.numel() < 2) continue;
    auto zk = p.z.index_select(0, idx).to(torch::kDouble);  // (n_k, d)
    auto centred = zk - zk.mean(0);
    auto svd = torch::linalg_svd(centred, false);
    auto sv = std::get<1>(svd);
    auto vh = std::get<2>(svd);                              // (r, d)
    const int64_t kc = std::min(components, vh.size(0));
    auto energy = sv.pow(2) / sv.pow(2).sum();
    std::vector<torch::Tensor> rows;
    std::vector<std::string> labels;
    nlohmann::json ev = nlohmann::json::array();
    for (int64_t j = 0; j < kc; ++j) {
      // Samples whose features align best with component j (largest projection).
      auto proj = centred.matmul(vh[j]);                     // (n_k,)
      auto top = std::get<1>(proj.abs().topk(std::min(per_component, proj.size(0))));
      auto zsel = zk.index_select(0, top).to(torch::kFloat).to(o.device);
      rows.push_back(model.decode(zsel).cpu());
      labels.push_back("PC" + std::to_string(j + 1));
      ev.push_back(energy[j].item<double>());
    }
    const std::string path = c.out + "/pca_class" + std::to_string(k) + ".png";
    write_png(path, grid_rows(rows, labels));
    classes.push_back({{"class", k}, {"file", path}, {"explained_variance", ev}});
  }
  nlohmann::json r = {{"components", components}, {"classes", classes}};
  write_file_atomic(c.out + "/pca.json", r.dump(2) + "\n");
  return r;
}

static nlohmann::json similarity_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& o) {
  Context c = load_context(run_dir, o, false);
  require(c.labelled, "similarity needs a labelled dataset (features sorted by class)");
  const int64_t per_class = std::max<int64_t>(1, 1000 / std::max<int64_t>(1, c.test.num_classes));
  auto all_labels = c.test.batch_labels(torch::arange(c.test.size(), torch::kLong));
  auto idx = per_class_indices(all_labels, c.test.num_classes, per_class);
  Pass p = closed_loop(c, c.test.subset(idx), o.batch_size, o.device, false);
  std::vector<HeatmapBlock> blocks;
  for (int64_t k = 0; k < c.test.num_classes; ++k) {
    const int64_t n = (p.labels == k).sum().item<int64_t>();
    if (n > 0) blocks.push_back({std::to_string(k), n});
  }
  nlohmann::json r;
  auto draw = [&](const torch::Tensor& z, const std::string& name, const std::string& title) {
    auto zn = z / z.norm(2, 1, true).clamp_min(1e-12);
    auto sim = zn.matmul(zn.t()).abs();                       // (n, n)
    Heatmap h;
    h.title = title;
    h.values = sim;
    h.vmin = 0.0;
    h.vmax = 1.0;
    h.colorbar_label = "|cos|";
    h.row_blocks = blocks;
    h.xlabel = "samples (sorted by class)";
    h.ylabel = "samples (sorted by class)";
    save_plot(c.out + "/" + name + ".png", h, PlotStyle{800, 720});
    auto same = p.labels.unsqueeze(0) == p.labels.unsqueeze(1);
    r[name] = {{"file", c.out + "/" + name + ".png"},
               {"mean_within_class", sim.masked_select(same).mean().item<double>()},
               {"mean_between_classes", sim.masked_select(~same).mean().item<double>()}};
  };
  draw(p.z, "similarity_z", "|cos| similarity of features Z = f(X)");
  draw(p.zh, "similarity_zhat", "|cos| similarity of Ẑ = f(g(f(X)))");
  write_file_atomic(c.out + "/similarity.json", r.dump(2) + "\n");
  return r;
}

}  // namespace sparseloop

namespace sparseloop {
namespace {

std::string caption_for(const std::string& name) {
  if (name == "reconstruct") return "Test inputs (rows 'input') over their reconstructions g(f(x)).";
  if (name == "reconstruct_unseen") return "Classes never seen in training: inputs over g(f(x)).";
  if (name == "denoise") return "PSNR of reconstructions of noisy inputs as λ is raised at inference.";
  if (name == "denoise_examples") return "Noisy inputs and their reconstructions for each λ.";
  if (name == "interpolate") return "Decoded interpolations between the features of two images (eq. 17).";
  if (name == "similarity_z") return "|cos| similarity of the features Z, sorted by class.";
  if (name == "similarity_zhat") return "|cos| similarity of Ẑ = f(g(f(X))), sorted by class.";
  if (name.rfind("pca_class", 0) == 0)
    return "Class " + name.substr(9) + ": decoded samples best aligned with each principal component.";
  return "";
}

}  // namespace

std::vector<CurvePanel> ctrl_curves() {
  return {{"training_curves",
           "Closed-loop objective during training (every ΔR term is in metrics.jsonl)",
           "nats",
           {{"train", "delta_r", "ΔR(Z, Ẑ) (descent)"},
            {"train", "enc_delta_r", "ΔR(Z, Ẑ) (ascent)"},
            {"train", "objective", "objective T (descent)"},
            {"train", "rate_z", "R(Z)"}}},
          {"validation_curves",
           "Validation (images held out of training)",
           "value",
           {{"val", "consistency_accuracy", "consistency accuracy"}, {"val", "ssim", "SSIM"}}},
          {"validation_psnr", "Validation PSNR", "PSNR (dB)", {{"val", "psnr", "PSNR of g(f(x))"}}}};
}

static nlohmann::json report_ctrl(const std::string& run_dir, const CtrlAnalysisOptions& o) {
  // A complete report without extra commands: evaluate and draw the
  // reconstructions when the run has not been evaluated yet.
  if (!file_exists(run_dir + "/eval.json")) evaluate_ctrl(run_dir, o);
  if (!file_exists(run_dir + "/reconstruct/reconstruct.png") &&
      !file_exists(run_dir + "/reconstruct.png")) {
    CtrlAnalysisOptions ro = o;
    ro.out = run_dir + "/reconstruct";
    reconstruct_ctrl(run_dir, ro, 32);
  }
  CommonTrainConfig common;
  CtrlConfig config;
  read_run_config(run_dir, common, config);
  RunReportSpec spec;
  spec.title = std::string(common.model == "csc-ctrl" ? "CSC-CTRL" : "CTRL") + " on " + common.data;
  spec.subtitle = "Closed-loop transcription run " + run_dir;
  spec.meta = {{"model", common.model},
               {"data", common.data + (config.classes.empty() ? "" : " (classes " + config.classes + ")")},
               {"strategy", std::to_string(config.strategy)}};
  spec.curves = ctrl_curves();
  spec.caption = caption_for;
  spec.results = [](Report& r, const nlohmann::json& ev) {
    if (ev.is_null()) return;
    auto num = [&](const char* key, int decimals, const std::string& unit = "") {
      return ev.contains(key) && ev[key].is_number()
                 ? format_number(ev[key].get<double>(), decimals) + unit
                 : std::string("—");
    };
    std::vector<MetricCard> cards = {
        {"Consistency accuracy", num("consistency_accuracy", 3),
         ev.contains("classifier_accuracy_on_real")
             ? "classifier on real test images: " + num("classifier_accuracy_on_real", 3)
             : "",
         "independent classifier on g(f(x))"},
        {"PSNR", num("psnr", 2, " dB"), "", "g(f(x)) vs x, test images"},
        {"SSIM", num("ssim", 3), "", ""},
        {"Nearest subspace", num("nearest_subspace_accuracy", 3), "", "10 components per class"},
        {"Code sparsity", num("code_sparsity", 3), "", "zeros in the CSC codes"},
        {"ΔR(Z, Ẑ)", num("delta_r", 3), "", "test set"}};
    if (ev.contains("fid")) cards.push_back({"FID", num("fid", 1), "", ""});
    if (ev.contains("inception_score"))
      cards.push_back({"Inception Score", num("inception_score", 2), "", ""});
    r.cards(cards);
    if (ev.contains("baselines")) {
      Table t;
      t.caption = "Reconstructions against baselines that know little of each image (test images)";
      t.header = {"reconstruction", "PSNR (dB)", "SSIM"};
      t.rows.push_back({"g(f(x))", ev.value("psnr", 0.0), ev.value("ssim", 0.0)});
      for (const auto& [key, name] : std::vector<std::pair<std::string, std::string>>{
               {"mean_colour", "mean colour of the image"},
               {"thumbnail_4", "4×4 thumbnail, upsampled"},
               {"thumbnail_8", "8×8 thumbnail, upsampled"}})
        if (ev["baselines"].contains(key))
          t.rows.push_back({name, ev["baselines"][key].value("psnr", 0.0),
                            ev["baselines"][key].value("ssim", 0.0)});
      t.decimals = {-1, 2, 3};
      r.table(t);
    }
    if (ev.contains("unseen")) {
      Table t;
      t.caption = "Generalization to classes never seen in training";
      t.header = {"classes", "PSNR (dB)", "SSIM", "consistency accuracy"};
      const auto& u = ev["unseen"];
      t.rows.push_back({"seen", ev.value("psnr", 0.0), ev.value("ssim", 0.0),
                        ev.value("consistency_accuracy", 0.0)});
      t.rows.push_back({"unseen", u.value("psnr", 0.0), u.value("ssim", 0.0),
                        u.value("consistency_accuracy", 0.0)});
      t.decimals = {-1, 2, 3, 3};
      r.table(t);
    }
  };
  const std::string path = write_run_report(run_dir, o.out, spec);
  return {{"report", path}, {"eval", nlohmann::json::parse(read_file(run_dir + "/eval.json"))}};
}

// ---------------------------------------------------------------------------
// The analyses as requests (engine/analysis.h)

namespace {

CtrlAnalysisOptions options_from(const AnalysisRequest& a, const std::string& command) {
  CtrlAnalysisOptions o;
  static_cast<AnalysisRequest&>(o) = a;
  o.out = command == "eval" || command == "report" ? a.out : a.output_dir(command);
  return o;
}

}  // namespace

nlohmann::json ctrl_eval(const EvalRequest& a) {
  auto r = evaluate_ctrl(a.run, options_from(a, "eval"), a.inception);
  std::string line = "eval: PSNR " + std::to_string(r.value("psnr", 0.0)) + " dB, SSIM " +
                     std::to_string(r.value("ssim", 0.0));
  if (r.contains("baselines"))
    line += " (mean colour " + format_number(r["baselines"]["mean_colour"]["psnr"].get<double>(), 2) +
            " dB, 4×4 thumbnail " + format_number(r["baselines"]["thumbnail_4"]["psnr"].get<double>(), 2) +
            " dB, 8×8 " + format_number(r["baselines"]["thumbnail_8"]["psnr"].get<double>(), 2) + " dB)";
  if (r.contains("consistency_accuracy"))
    line += ", consistency accuracy " + std::to_string(r["consistency_accuracy"].get<double>());
  say(line + " -> " + a.run + "/eval.json");
  return r;
}

nlohmann::json ctrl_reconstruct(const ReconstructRequest& a) {
  auto o = options_from(a, "reconstruct");
  auto r = reconstruct_ctrl(a.run, o, a.count);
  say("reconstruct: " + o.out + "/reconstruct.png");
  return r;
}

nlohmann::json ctrl_denoise(const DenoiseRequest& a) {
  auto o = options_from(a, "denoise");
  auto r = denoise_ctrl(a.run, o, a.sigma, a.lambdas);
  return r;
}

nlohmann::json ctrl_interpolate(const InterpolateRequest& a) {
  auto o = options_from(a, "interpolate");
  auto r = interpolate_ctrl(a.run, o, a.pairs, a.steps);
  say("interpolate: " + o.out + "/interpolate.png");
  return r;
}

nlohmann::json ctrl_pca(const PcaRequest& a) {
  auto o = options_from(a, "pca");
  auto r = pca_ctrl(a.run, o, a.components, a.per_component);
  say("pca: " + o.out + "/pca_class*.png");
  return r;
}

nlohmann::json ctrl_similarity(const SimilarityRequest& a) {
  auto o = options_from(a, "similarity");
  auto r = similarity_ctrl(a.run, o);
  say("similarity: " + o.out + "/similarity_z.png");
  return r;
}

nlohmann::json ctrl_atoms(const AtomsRequest& a) {
  require(a.count >= 0, "--count must be >= 0");
  CtrlRun run = load_ctrl_run(a.run, a.checkpoint, a.device);
  auto* csc = dynamic_cast<CscCtrlImpl*>(run.model.get());
  require(csc != nullptr, "`sparseloop atoms`: the CTRL baseline (" + run.common.model +
                              ") has no dictionary; atoms are CSC-CTRL's");
  const std::string out = a.output_dir("atoms");
  make_dirs(out);
  // The first layer's atoms live in image space: (C, channels, 4, 4).
  auto dict = csc->layers.front()->dictionary().detach().cpu();
  const int64_t n = a.count > 0 ? std::min(a.count, dict.size(0)) : dict.size(0);
  write_png(out + "/atoms.png", atom_grid(dict.narrow(0, 0, n), 16, 28));
  nlohmann::json j = {{"atoms", n},
                      {"kind", "first CSC layer, " + std::to_string(dict.size(1)) + "×" +
                                   std::to_string(dict.size(2)) + "×" +
                                   std::to_string(dict.size(3)) + " (unit norm)"},
                      {"figure", out + "/atoms.png"}};
  write_file_atomic(out + "/atoms.json", j.dump(2) + "\n");
  say(std::to_string(n) + " atoms of the first CSC layer -> " + out + "/atoms.png");
  return j;
}

nlohmann::json ctrl_report(const ReportRequest& a) {
  auto r = report_ctrl(a.run, options_from(a, "report"));
  say("report: " + r["report"].get<std::string>());
  return r;
}

}  // namespace sparseloop
