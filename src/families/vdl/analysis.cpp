// Analysis commands for the VDL family (sdl, vdl, sdl-nl, vdl-nl): eval,
// reconstruct, denoise, atoms, probe, report (docs/cli.md §5).
// Each loads the run (families/vdl/trainer.h), recomputes the data split it
// needs and writes PNG + JSON into --out (default RUN/<command>).
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "sparseloop/engine/denoise.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/engine/run_report.h"
#include "sparseloop/families/vdl/analysis.h"
#include "sparseloop/families/vdl/probes.h"
#include "sparseloop/families/vdl/trainer.h"
#include "sparseloop/io/png.h"
#include "sparseloop/metrics/image_quality.h"
#include "sparseloop/plot/image_grid.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/plot/report.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/log.h"

namespace sparseloop {
namespace {

struct Loaded {
  VdlRun run;
  VdlData data;
};

Loaded load(const AnalysisRequest& a) {
  const torch::Device device = a.device;
  Loaded l{load_vdl_run(a.run, a.checkpoint, device), {}};
  const std::string data = a.data.empty() ? l.run.common.data : a.data;
  const std::string dir = a.data.empty() && a.data_dir.empty() ? l.run.common.data_dir : a.data_dir;
  l.data = load_vdl_data(data, dir, l.run.config);
  require(l.data.dim() == l.run.model->options.input_dim(),
          "--data " + data + ": samples of " + std::to_string(l.data.dim()) +
              " values, but the run's model takes " +
              std::to_string(l.run.model->options.input_dim()));
  return l;
}

VdlSplit limited(const VdlSplit& s, int64_t limit) {
  return limit > 0 && limit < s.size() ? s.narrow(0, limit) : s;
}

std::string fixed(double v, int decimals) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(decimals) << v;
  return o.str();
}

/// Encoder codes of a split, in batches: (N, l) on the CPU.
torch::Tensor encode(VdlModel& model, const VdlSplit& s, int64_t batch, torch::Device dev) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < s.size(); i += batch)
    out.push_back(
        model->encoder->forward(s.x.narrow(0, i, std::min(batch, s.size() - i)).to(dev)).cpu());
  return torch::cat(out);
}

/// Atoms (d, l) as the picture of l images (C, H, W).
torch::Tensor atom_picture(const torch::Tensor& dict, const VdlData& d, int64_t nrow) {
  auto a = dict.t().contiguous();                                     // (l, d)
  return atom_grid(a.reshape({a.size(0), d.channels, d.height, d.width}), nrow, 56);  // (l, C, H, W)
}

void write_text(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace

// ------------------------------------------------------------------- eval

nlohmann::json vdl_eval(const EvalRequest& a) {
  auto l = load(a);
  VdlEvalOptions eo;
  // The energy's variance hinge is a statistic of a batch: evaluate it over
  // batches of the run's training size, as its validations did.
  eo.batch_size = l.run.common.batch_size > 0 ? l.run.common.batch_size : a.batch_size;
  eo.denoise_sigma = l.run.config.denoise_sigma;
  eo.fista = true;
  eo.seed = a.seed;
  auto split = limited(l.data.test, a.limit);
  auto m = evaluate_vdl(l.run.model, l.data, split, l.run.options, eo);
  m["model"] = l.run.common.model;
  m["checkpoint"] = a.checkpoint;
  m["data"] = l.data.name;
  m["split"] = "test";
  write_text(a.run + "/eval.json", m);
  say(l.run.common.model + " on " + l.data.name + " test (" + std::to_string(split.size()) +
      " samples, encoder codes): PSNR " + fixed(m["psnr"], 2) + " dB, sparsity " +
      fixed(100 * m["sparsity"].get<double>(), 1) + " %, energy " + fixed(m["energy"], 4) +
      ", denoised PSNR (σ = " + fixed(eo.denoise_sigma, 2) + ") " + fixed(m["denoise_psnr"], 2) +
      " dB; FISTA codes: PSNR " + fixed(m["fista_psnr"], 2) + " dB, sparsity " +
      fixed(100 * m["fista_sparsity"].get<double>(), 1) + " % -> " + a.run + "/eval.json");
  return m;
}

// ------------------------------------------------------------ reconstruct

nlohmann::json vdl_reconstruct(const ReconstructRequest& a) {
  require(a.count >= 1, "--count must be >= 1");
  auto l = load(a);
  const std::string out = a.output_dir("reconstruct");
  make_dirs(out);
  auto rows = l.data.test.narrow(0, std::min(a.count, l.data.test.size()));
  torch::NoGradGuard no_grad;
  auto y = rows.x.to(l.run.device);
  auto z = l.run.model->encoder->forward(y);
  auto fista = vdl_inference(l.run.model->decoder, y, z, l.run.options.inference).z;
  auto inputs = l.data.to_pixels(y, rows).cpu().clamp(0, 1);
  auto enc = l.data.to_pixels(l.run.model->decoder->forward(z), rows).cpu().clamp(0, 1);
  auto fis = l.data.to_pixels(l.run.model->decoder->forward(fista), rows).cpu().clamp(0, 1);
  write_png(out + "/reconstructions.png",
            image_grid_with_rows(std::vector<torch::Tensor>{inputs, enc, fis},
                                 std::vector<std::string>{"input", "encoder", "FISTA"}));
  nlohmann::json j = {{"count", rows.size()},
                      {"psnr_encoder", psnr_per_sample(enc, inputs, 1.0).mean().item<double>()},
                      {"psnr_fista", psnr_per_sample(fis, inputs, 1.0).mean().item<double>()},
                      {"figure", out + "/reconstructions.png"}};
  write_text(out + "/reconstruct.json", j);
  say("inputs over encoder and FISTA reconstructions -> " + out + "/reconstructions.png");
  return j;
}

// ---------------------------------------------------------------- denoise

nlohmann::json vdl_denoise(const DenoiseRequest& a) {
  auto l = load(a);
  auto split = limited(l.data.test, a.limit);
  auto& model = l.run.model;
  const auto dev = l.run.device;
  // Rows: the encoder's reconstruction (the paper's amortised denoising), then
  // FISTA at test time with each λ, warm-started from the encoder's codes.
  DenoiseProblem p;
  p.sigma = a.sigma;
  p.lambdas = a.lambdas;
  p.trained_lambda = l.run.options.inference.energy().lambda();
  p.samples = split.size();
  p.batch_size = a.batch_size;
  p.seed = a.seed;
  p.out = a.output_dir("denoise");
  p.lambda_label = "λ of test-time FISTA";
  p.clean = [&](int64_t start, int64_t count) { return split.x.narrow(0, start, count).to(dev); };
  p.to_pixels = [&](const torch::Tensor& x, int64_t start) {
    return l.data.to_pixels(x, split.narrow(start, x.size(0)));
  };
  p.methods.push_back({"encoder", [&](const torch::Tensor& noisy) {
                         auto z = model->encoder->forward(noisy);
                         return std::make_pair(model->decoder->forward(z), z);
                       }});
  p.reconstruct = [&](const torch::Tensor& noisy, double lambda) {
    auto o = l.run.options.inference;
    o.energy(VdlEnergyOptions(o.energy()).lambda(lambda));
    auto z = vdl_inference(model->decoder, noisy, model->encoder->forward(noisy), o).z;
    return std::make_pair(model->decoder->forward(z), z);
  };
  return denoise_by_lambda(p);
}

// ------------------------------------------------------------------ atoms

nlohmann::json vdl_atoms(const AtomsRequest& a) {
  require(a.count >= 0, "--count must be >= 0");
  const torch::Device device = a.device;
  auto run = load_vdl_run(a.run, a.checkpoint, device);
  const std::string out = a.output_dir("atoms");
  make_dirs(out);
  const int64_t d = run.model->options.input_dim(), l = run.model->options.code_dim();
  VdlData shape;  // pictures only need the image shape
  shape.channels = run.channels;
  shape.height = run.height;
  shape.width = run.width;
  require(shape.dim() == d, a.run + "/model_info.json: image shape does not match the model");
  const int64_t n = a.count > 0 ? std::min(a.count, l) : l;
  // 16 per row as the paper's figures (8 rows for 128 atoms), fewer for small sets.
  const int64_t nrow = std::min<int64_t>(16, n);
  auto& dec = run.model->decoder;
  // Linear: the columns of W; non-linear: the columns of W₂W₁ (the paper's
  // pictures), and the one-hot decodes D(e_i) − D(0) through the ReLU.
  auto dict = dec->dictionary().cpu().narrow(1, 0, n);  // (d, n)
  write_png(out + "/atoms.png", atom_picture(dict, shape, nrow));
  nlohmann::json j = {{"atoms", n},
                      {"code_dim", l},
                      {"figure", out + "/atoms.png"},
                      {"kind", dec->is_linear() ? "columns of W" : "columns of W2·W1"},
                      {"column_norm_mean", dict.norm(2, 0).mean().item<double>()},
                      {"column_norm_min", dict.norm(2, 0).min().item<double>()},
                      {"column_norm_max", dict.norm(2, 0).max().item<double>()}};
  if (!dec->is_linear()) {
    torch::NoGradGuard no_grad;
    auto eye = torch::eye(l, dec->layer1->weight.options()).narrow(0, 0, n);
    auto zero = torch::zeros({1, l}, dec->layer1->weight.options());
    auto decoded = (dec->forward(eye) - dec->forward(zero)).t().cpu();  // (d, n)
    write_png(out + "/one_hot_decodes.png", atom_picture(decoded, shape, nrow));
    j["one_hot_figure"] = out + "/one_hot_decodes.png";
  }
  write_text(out + "/atoms.json", j);
  say(std::to_string(n) + " atoms (" + j["kind"].get<std::string>() + ") -> " + out +
      "/atoms.png");
  return j;
}

// ------------------------------------------------------------------ probe

nlohmann::json vdl_probe(const ProbeRequest& a) {
  require(a.epochs >= 1, "--epochs must be >= 1");
  std::vector<int64_t> shots;
  for (double s : parse_number_list(a.shots, "--shots")) {
    require(s >= 1 && std::floor(s) == s, "--shots: '" + a.shots + "' must list whole numbers >= 1");
    shots.push_back(static_cast<int64_t>(s));
  }
  auto l = load(a);
  require(l.data.num_classes > 0 && l.data.train.labels.defined(),
          "--data " + l.data.name + ": the probe needs labelled data (mnist)");
  const std::string out = a.output_dir("probe");
  make_dirs(out);
  const auto dev = l.run.device;
  auto test = limited(l.data.test, a.limit);
  auto& train = l.data.train;
  auto& val = l.data.val;
  say("encoding " + std::to_string(train.size() + val.size() + test.size()) + " samples");
  auto c_train = encode(l.run.model, train, a.batch_size, dev);
  auto c_val = encode(l.run.model, val, a.batch_size, dev);
  auto c_test = encode(l.run.model, test, a.batch_size, dev);
  LinearProbeOptions po;
  po.epochs = a.epochs;
  po.seed = a.seed;
  po.device = dev;
  auto codes = few_shot_probe(c_train, train.labels, c_test, test.labels, l.data.num_classes,
                              shots, po, c_val, val.labels);
  auto pixels = few_shot_probe(train.x, train.labels, test.x, test.labels, l.data.num_classes,
                               shots, po, val.x, val.labels);
  nlohmann::json rows = nlohmann::json::array();
  LineChart chart;
  chart.title = "Few-shot linear probe (" + l.run.common.model + ", test top-1)";
  chart.x = {"samples per class", AxisScale::log};
  chart.y = {"top-1 accuracy (%)"};
  Series sc{"codes (" + l.run.common.model + ")"}, sp{"raw pixels"};
  sc.marker = sp.marker = Marker::circle;
  std::ostringstream t;
  t << "shots  codes top-1  top-3   pixels top-1  top-3\n";
  for (size_t i = 0; i < shots.size(); ++i) {
    const auto& c = codes[i].result;
    const auto& p = pixels[i].result;
    rows.push_back({{"shots", shots[i]},
                    {"codes", {{"top1", c.top(1)}, {"top3", c.top(3)}, {"epoch", c.epoch}}},
                    {"pixels", {{"top1", p.top(1)}, {"top3", p.top(3)}, {"epoch", p.epoch}}}});
    sc.x.push_back(static_cast<double>(shots[i]));
    sc.y.push_back(100 * c.top(1));
    sp.x.push_back(static_cast<double>(shots[i]));
    sp.y.push_back(100 * p.top(1));
    t << std::setw(5) << shots[i] << "  " << std::setw(11) << fixed(100 * c.top(1), 1) << "  "
      << std::setw(5) << fixed(100 * c.top(3), 1) << "   " << std::setw(12)
      << fixed(100 * p.top(1), 1) << "  " << std::setw(5) << fixed(100 * p.top(3), 1) << "\n";
  }
  chart.series = {sc, sp};
  save_plot(out + "/probe.png", chart);
  nlohmann::json j = {{"model", l.run.common.model},
                      {"classifier", "linear (Adam lr 1e-3, batch 250), epoch of lowest val loss"},
                      {"epochs", a.epochs},
                      {"test_samples", test.size()},
                      {"rows", rows},
                      {"figure", out + "/probe.png"}};
  write_text(out + "/probe.json", j);
  say(t.str() + "-> " + out);
  return j;
}

// ----------------------------------------------------------------- report

std::vector<CurvePanel> vdl_curves() {
  return {{"training_energy", "Energy per sample", "energy",
           {{"train", "energy", "train (FISTA codes)"}, {"val", "energy", "validation"}}},
          {"training_sparsity", "Fraction of zero code entries", "sparsity",
           {{"train", "sparsity", "train (FISTA codes)"}, {"val", "sparsity", "validation"}}},
          {"validation_psnr", "Validation PSNR (encoder codes)", "PSNR (dB)",
           {{"val", "psnr", "validation"}}},
          {"inference_steps", "FISTA steps per sample", "steps",
           {{"train", "inference_steps", "train"}}}};
}

nlohmann::json vdl_report(const ReportRequest& a) {
  CommonTrainConfig common;
  VdlConfig config;
  read_run_config(a.run, common, config);
  RunReportSpec spec;
  spec.title = common.model + " on " + common.data;
  spec.subtitle = "Evtimova & LeCun, Sparse Coding with Multi-Layer Decoders using Variance "
                  "Regularization (TMLR 2022); run " + a.run;
  spec.meta = {{"model", common.model}, {"preset", common.preset.empty() ? "none" : common.preset}};
  spec.curves = vdl_curves();
  spec.results = [](Report& r, const nlohmann::json& e) {
    if (e.is_null()) return;
    std::vector<MetricCard> cards = {
        {"PSNR", fixed(e.value("psnr", 0.0), 2) + " dB", "", "de-normalised, peak 1"},
        {"sparsity", fixed(100 * e.value("sparsity", 0.0), 1) + " %", "", "zeros in the codes"},
        {"energy", format_number(e.value("energy", 0.0)), "", "per sample"}};
    if (e.contains("denoise_psnr"))
      cards.push_back({"denoised PSNR", fixed(e["denoise_psnr"], 2) + " dB", "",
                       "σ = " + fixed(e.value("denoise_sigma", 1.0), 2)});
    r.cards(cards);
  };
  spec.caption = [](const std::string& stem) -> std::string {
    if (stem == "atoms") return "Dictionary atoms";
    if (stem == "one_hot_decodes") return "One-hot decodes D(e_i) − D(0)";
    if (stem == "reconstructions") return "Inputs, encoder and FISTA reconstructions";
    if (stem == "denoise") return "Denoising";
    if (stem == "probe") return "Few-shot linear probe";
    return "";
  };
  const std::string path = write_run_report(a.run, a.out, spec);
  say("report -> " + path);
  return {{"report", path}};
}

}  // namespace sparseloop
