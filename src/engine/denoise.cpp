#include "sparseloop/engine/denoise.h"

#include <cmath>
#include <sstream>

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

/// Sums of per-sample quality over the batches of one row.
struct Quality {
  double psnr = 0, ssim = 0, mse = 0, zeros = 0, code_entries = 0;
  void add(const torch::Tensor& px, const torch::Tensor& clean, const torch::Tensor& codes) {
    psnr += psnr_per_sample(px, clean, 1.0).sum().item<double>();
    ssim += ssim_per_sample(px.clamp(0, 1), clean.clamp(0, 1), 1.0).sum().item<double>();
    mse += (px - clean).pow(2).reshape({px.size(0), -1}).mean(1).sum().item<double>();
    if (codes.defined()) {
      zeros += (codes == 0).sum().item<double>();
      code_entries += static_cast<double>(codes.numel());
    }
  }
  nlohmann::json json(double n) const {
    nlohmann::json j = {{"psnr", psnr / n}, {"ssim", ssim / n}, {"mse", mse / n}};
    if (code_entries > 0) j["sparsity"] = zeros / code_entries;
    return j;
  }
};

}  // namespace

nlohmann::json denoise_by_lambda(const DenoiseProblem& p) {
  require(p.sigma >= 0 && std::isfinite(p.sigma), "--sigma must be >= 0");
  for (double l : p.lambdas) require(l >= 0 && std::isfinite(l), "--lambda values must be >= 0");
  require(p.samples > 0, "no test samples to denoise");
  require(p.batch_size > 0, "--batch-size must be positive");
  make_dirs(p.out);
  torch::NoGradGuard no_grad;
  Quality noisy_q;
  std::vector<Quality> rows(p.lambdas.size()), methods(p.methods.size());
  // The first images of every row, for the examples figure.
  const int64_t shown = std::min<int64_t>(12, p.samples);
  std::vector<torch::Tensor> examples;
  std::vector<std::string> labels;
  for (int64_t start = 0, b = 0; start < p.samples; start += p.batch_size, ++b) {
    const int64_t len = std::min(p.batch_size, p.samples - start);
    auto x = p.clean(start, len);
    // One noise draw per batch, shared by every row: rows differ only by method.
    auto gen = make_generator(p.seed, /*stream=*/0xD0155, static_cast<uint64_t>(b));
    auto noisy = x + p.sigma * torch::randn(x.sizes(), gen, torch::kFloat).to(x.device(), x.dtype());
    auto clean_px = p.to_pixels(x, start).cpu();
    auto noisy_px = p.to_pixels(noisy, start).cpu();
    noisy_q.add(noisy_px, clean_px, {});
    std::vector<torch::Tensor> batch_rows{clean_px, noisy_px};
    for (size_t m = 0; m < p.methods.size(); ++m) {
      auto [xh, codes] = p.methods[m].run(noisy);
      auto px = p.to_pixels(xh, start).cpu();
      methods[m].add(px, clean_px, codes);
      batch_rows.push_back(px);
    }
    for (size_t k = 0; k < p.lambdas.size(); ++k) {
      auto [xh, codes] = p.reconstruct(noisy, p.lambdas[k]);
      auto px = p.to_pixels(xh, start).cpu();
      rows[k].add(px, clean_px, codes);
      batch_rows.push_back(px);
    }
    if (b == 0)
      for (auto& r : batch_rows) examples.push_back(r.narrow(0, 0, std::min(shown, len)).clamp(0, 1));
  }
  const double n = static_cast<double>(p.samples);
  labels = {"clean", "noisy σ=" + format_number(p.sigma)};
  nlohmann::json j = {{"sigma", p.sigma},
                      {"samples", p.samples},
                      {"trained_lambda", p.trained_lambda},
                      {"noisy", noisy_q.json(n)},
                      {"rows", nlohmann::json::array()}};
  for (size_t m = 0; m < p.methods.size(); ++m) {
    j[p.methods[m].name] = methods[m].json(n);
    labels.push_back(p.methods[m].name);
  }
  std::vector<double> psnr;
  for (size_t k = 0; k < p.lambdas.size(); ++k) {
    auto r = rows[k].json(n);
    r["lambda"] = p.lambdas[k];
    psnr.push_back(r["psnr"].get<double>());
    j["rows"].push_back(r);
    labels.push_back(p.lambda_label + "=" + format_number(p.lambdas[k]));
  }
  const std::string examples_png = p.out + "/denoise_examples.png";
  write_png(examples_png, image_grid_with_rows(examples, labels));
  LineChart chart;
  chart.title = "Denoising by λ at inference (σ = " + format_number(p.sigma) + ")";
  const bool log_x = p.lambdas.size() > 2 && p.lambdas.front() > 0;
  chart.x = {p.lambda_label + " at inference", log_x ? AxisScale::log : AxisScale::linear};
  chart.y = {"PSNR (dB)"};
  if (!p.lambdas.empty()) {
    chart.series.push_back({"reconstruction of the noisy input", p.lambdas, psnr});
    chart.series.back().marker = Marker::circle;
  }
  chart.references.push_back({j["noisy"]["psnr"].get<double>(), "noisy input"});
  for (size_t m = 0; m < p.methods.size(); ++m)
    chart.references.push_back({j[p.methods[m].name]["psnr"].get<double>(), p.methods[m].name});
  if (p.trained_lambda > 0) chart.references.push_back({p.trained_lambda, "trained λ", false});
  const std::string figure = p.out + "/denoise.png";
  save_plot(figure, chart);
  j["figure"] = figure;
  j["examples"] = examples_png;
  write_file_atomic(p.out + "/denoise.json", j.dump(2) + "\n");
  std::ostringstream t;
  t.precision(4);
  t << "denoising at σ = " << p.sigma << " (" << p.samples << " test samples): noisy "
    << j["noisy"]["psnr"].get<double>() << " dB";
  for (const auto& m : p.methods) t << ", " << m.name << " " << j[m.name]["psnr"].get<double>() << " dB";
  for (const auto& r : j["rows"])
    t << ", λ=" << r["lambda"].get<double>() << " " << r["psnr"].get<double>() << " dB";
  say(t.str() + " -> " + p.out);
  return j;
}

}  // namespace sparseloop
