#include "sparseloop/families/sdnet/robust.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "sparseloop/util/error.h"

namespace sparseloop {
namespace {

size_t argmax_first(const std::vector<double>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());  // first max (np.argmax)
}

/// Index of the grid point nearest to `value`.
size_t nearest(const std::vector<double>& grid, double value) {
  size_t best = 0;
  for (size_t i = 1; i < grid.size(); ++i)
    if (std::abs(grid[i] - value) < std::abs(grid[best] - value)) best = i;
  return best;
}

double json_or_null(bool present, double v, nlohmann::json& slot) {
  slot = present ? nlohmann::json(v) : nlohmann::json(nullptr);
  return v;
}

}  // namespace

LambdaSweep sweep_stem_lambda(Sdnet& model, const LabelledImages& images,
                              const std::vector<double>& lambdas, torch::Device device,
                              int64_t batch_size) {
  TORCH_CHECK(!lambdas.empty(), "sweep_stem_lambda: no λ values");
  TORCH_CHECK(batch_size > 0, "sweep_stem_lambda: batch size must be positive");
  TORCH_CHECK(images.x.dim() == 4 && images.y.dim() == 1 && images.x.size(0) == images.y.size(0),
              "sweep_stem_lambda: expected images (N, C, H, W) and labels (N,), got ",
              images.x.sizes(), " and ", images.y.sizes());
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const bool csc = static_cast<bool>(model->stem_csc());
  const double saved = model->stem_lambda();
  const int64_t n = images.x.size(0);
  const auto L = static_cast<int64_t>(lambdas.size());
  LambdaSweep s;
  s.lambdas = lambdas;
  s.correct = torch::zeros({L, n}, torch::kBool);
  if (csc) s.residuals = torch::zeros({L, n}, torch::kDouble);
  for (int64_t l = 0; l < L; ++l) {
    if (!csc && l > 0) {  // λ has no effect: repeat the first pass
      s.correct[l].copy_(s.correct[0]);
      continue;
    }
    if (csc) model->set_stem_lambda(lambdas[static_cast<size_t>(l)]);
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t b = std::min(batch_size, n - start);
      auto x = images.x.narrow(0, start, b).to(device);  // (b, C, H, W)
      auto y = images.y.narrow(0, start, b).to(device);  // (b,)
      auto out = model->forward_with_residual(x);
      s.correct[l].narrow(0, start, b).copy_(out.logits.argmax(1).eq(y).to(torch::kCPU));
      if (csc) s.residuals[l].narrow(0, start, b).copy_(out.residual.to(torch::kCPU, torch::kDouble));
    }
  }
  if (csc) model->set_stem_lambda(saved);
  if (was_training) model->train();
  auto acc = (s.correct.to(torch::kDouble).mean(1) * 100.0).contiguous();  // (L,)
  s.accuracy.assign(acc.data_ptr<double>(), acc.data_ptr<double>() + L);
  if (csc) {
    auto r = s.residuals.mean(1).contiguous();  // (L,)
    s.residual.assign(r.data_ptr<double>(), r.data_ptr<double>() + L);
  }
  return s;
}

LinearFit fit_lambda_line(const std::vector<double>& residuals,
                          const std::vector<double>& best_lambdas) {
  TORCH_CHECK(residuals.size() == best_lambdas.size() && !residuals.empty(),
              "fit_lambda_line: need one best λ per residual (and some)");
  LinearFit f = fit_line(residuals, best_lambdas);
  if (!f.valid()) {
    // One distinct residual: no slope, a constant λ.
    double mean = 0;
    for (double l : best_lambdas) mean += l;
    f.slope = 0;
    f.intercept = mean / static_cast<double>(best_lambdas.size());
    f.n = static_cast<int64_t>(best_lambdas.size());
  }
  return f;
}

double select_lambda(const LinearFit& fit, const std::vector<double>& lambdas,
                     const std::vector<double>& r) {
  TORCH_CHECK(!lambdas.empty() && lambdas.size() == r.size(),
              "select_lambda: need one residual per λ");
  std::vector<double> g(lambdas.size());
  for (size_t k = 0; k < g.size(); ++k) g[k] = fit.slope * r[k] + fit.intercept - lambdas[k];
  for (size_t k = 0; k + 1 < g.size(); ++k) {
    if (g[k] == 0.0) return lambdas[k];
    if ((g[k] > 0) != (g[k + 1] > 0) && g[k + 1] != 0.0) {
      // Linear interpolation of g between the two grid points.
      return lambdas[k] + (lambdas[k + 1] - lambdas[k]) * g[k] / (g[k] - g[k + 1]);
    }
  }
  if (g.back() == 0.0) return lambdas.back();
  size_t best = 0;
  for (size_t k = 1; k < g.size(); ++k)
    if (std::abs(g[k]) < std::abs(g[best])) best = k;
  return lambdas[best];
}

RobustResult robust_inference(Sdnet& model, const RobustOptions& o, const LabelledImages& clean,
                              const LevelImages& test, const LevelImages& calibration,
                              torch::Device device) {
  require(!o.levels.empty(), "--levels: no corruption levels");
  require(!o.lambdas.empty(), "--lambda: no λ values");
  require(o.calibration == "train" || o.calibration == "holdout" || o.calibration == "test",
          "--calibration '" + o.calibration + "': expected train, holdout or test");
  RobustResult res;
  res.corruption = o.corruption;
  res.calibration = o.calibration;
  res.lambdas = o.lambdas;
  res.has_csc_stem = static_cast<bool>(model->stem_csc());
  res.default_lambda = model->stem_lambda();
  const std::vector<double> default_only{res.default_lambda};
  res.clean_accuracy =
      sweep_stem_lambda(model, clean, default_only, device, o.batch_size).accuracy[0];

  // Pass 1: sweeps on test and calibration images; λ* and its residual per level.
  std::vector<double> cal_residuals, cal_best;
  for (size_t i = 0; i < o.levels.size(); ++i) {
    RobustLevel lv;
    lv.level = o.levels[i];
    const LabelledImages images = test(i);
    lv.sweep = sweep_stem_lambda(model, images, o.lambdas, device, o.batch_size);
    // Default λ: from the sweep when it is on the grid, else one more pass.
    const size_t d = nearest(o.lambdas, res.default_lambda);
    if (!res.has_csc_stem || std::abs(o.lambdas[d] - res.default_lambda) < 1e-12) {
      lv.accuracy_default_lambda = lv.sweep.accuracy[d];
      if (res.has_csc_stem) lv.residual_default_lambda = lv.sweep.residual[d];
    } else {
      auto s = sweep_stem_lambda(model, images, default_only, device, o.batch_size);
      lv.accuracy_default_lambda = s.accuracy[0];
      lv.residual_default_lambda = s.residual[0];
    }
    if (res.has_csc_stem) {
      const size_t b = argmax_first(lv.sweep.accuracy);
      lv.best_lambda = o.lambdas[b];
      lv.accuracy_best_lambda = lv.sweep.accuracy[b];
      const LambdaSweep cal =
          o.calibration == "test"
              ? lv.sweep
              : sweep_stem_lambda(model, calibration(i), o.lambdas, device, o.batch_size);
      const size_t c = argmax_first(cal.accuracy);
      lv.calibration_best_lambda = o.lambdas[c];
      lv.calibration_residual = cal.residual[c];
      cal_best.push_back(lv.calibration_best_lambda);
      cal_residuals.push_back(lv.calibration_residual);
    } else {
      lv.accuracy_best_lambda = lv.accuracy_default_lambda;
    }
    res.levels.push_back(std::move(lv));
  }
  if (!res.has_csc_stem) return res;

  // The fit λ* ≈ a·r + b (authors: numpy.polyfit(rloss, opt_lmbd, 1)).
  res.fit = fit_lambda_line(cal_residuals, cal_best);

  // Pass 2: λ from the test residuals alone, then its accuracy.
  for (size_t i = 0; i < res.levels.size(); ++i) {
    RobustLevel& lv = res.levels[i];
    lv.selected_lambda = std::max(0.0, select_lambda(res.fit, o.lambdas, lv.sweep.residual));
    const size_t k = nearest(o.lambdas, lv.selected_lambda);
    if (std::abs(o.lambdas[k] - lv.selected_lambda) < 1e-9) {
      lv.accuracy_selected_lambda = lv.sweep.accuracy[k];
    } else {
      lv.accuracy_selected_lambda =
          sweep_stem_lambda(model, test(i), {lv.selected_lambda}, device, o.batch_size).accuracy[0];
    }
    // Per image: the same rule on each image's own residual curve, on the grid.
    const int64_t n = lv.sweep.correct.size(1);
    auto R = lv.sweep.residuals.t().contiguous();  // (N, L)
    const auto L = static_cast<int64_t>(o.lambdas.size());
    int64_t hits = 0;
    auto correct = lv.sweep.correct.t().contiguous();  // (N, L)
    const bool* c = correct.data_ptr<bool>();
    const double* rp = R.data_ptr<double>();
    std::vector<double> curve(static_cast<size_t>(L));
    for (int64_t j = 0; j < n; ++j) {
      std::copy(rp + j * L, rp + (j + 1) * L, curve.begin());
      const size_t pick = nearest(o.lambdas, select_lambda(res.fit, o.lambdas, curve));
      hits += c[j * L + static_cast<int64_t>(pick)] ? 1 : 0;
    }
    lv.accuracy_selected_per_image = n > 0 ? 100.0 * static_cast<double>(hits) / n : 0.0;
  }
  return res;
}

RobustBaseline robust_baseline(Sdnet& model, const LabelledImages& clean, const LevelImages& test,
                               size_t levels, torch::Device device, int64_t batch_size) {
  const std::vector<double> own{model->stem_lambda()};  // ignored without a CSC stem
  RobustBaseline b;
  b.clean_accuracy = sweep_stem_lambda(model, clean, own, device, batch_size).accuracy[0];
  for (size_t i = 0; i < levels; ++i)
    b.accuracy.push_back(sweep_stem_lambda(model, test(i), own, device, batch_size).accuracy[0]);
  return b;
}

nlohmann::json RobustResult::to_json() const {
  nlohmann::json j;
  j["corruption"] = corruption;
  j["clean_accuracy"] = clean_accuracy;
  j["calibration"] = calibration;
  j["lambdas"] = lambdas;
  j["default_lambda"] = has_csc_stem ? nlohmann::json(default_lambda) : nlohmann::json(nullptr);
  if (has_csc_stem) j["fit"] = {{"slope", fit.slope}, {"intercept", fit.intercept}, {"r2", std::isfinite(fit.r2) ? nlohmann::json(fit.r2) : nlohmann::json(nullptr)}};
  else j["fit"] = nullptr;
  j["levels"] = nlohmann::json::array();
  for (const auto& lv : levels) {
    nlohmann::json l;
    l["level"] = lv.level;
    l["accuracy_default_lambda"] = lv.accuracy_default_lambda;
    json_or_null(has_csc_stem, lv.best_lambda, l["best_lambda"]);
    l["accuracy_best_lambda"] = lv.accuracy_best_lambda;
    json_or_null(has_csc_stem, lv.selected_lambda, l["selected_lambda"]);
    json_or_null(has_csc_stem, lv.accuracy_selected_lambda, l["accuracy_selected_lambda"]);
    json_or_null(has_csc_stem, lv.accuracy_selected_per_image,
                 l["accuracy_selected_lambda_per_image"]);
    json_or_null(has_csc_stem, lv.residual_default_lambda, l["residual_default_lambda"]);
    json_or_null(has_csc_stem, lv.calibration_best_lambda, l["calibration_best_lambda"]);
    json_or_null(has_csc_stem, lv.calibration_residual, l["calibration_residual"]);
    l["accuracy"] = lv.sweep.accuracy;
    if (has_csc_stem) l["residual"] = lv.sweep.residual;
    j["levels"].push_back(l);
  }
  j["baselines"] = nlohmann::json::array();
  for (const auto& b : baselines)
    j["baselines"].push_back({{"name", b.name},
                              {"model", b.model},
                              {"clean_accuracy", b.clean_accuracy},
                              {"accuracy", b.accuracy}});
  return j;
}

std::vector<double> parse_lambda_sweep(const std::string& text, const std::string& flag) {
  auto number = [&](const std::string& item) {
    try {
      size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size() || !std::isfinite(v)) throw std::invalid_argument(item);
      return v;
    } catch (const std::exception&) {
      throw InputError(flag + " '" + text + "': '" + item + "' is not a number");
    }
  };
  std::vector<double> out;
  if (text.find(':') != std::string::npos) {
    std::vector<std::string> parts;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ':')) parts.push_back(item);
    require(parts.size() == 3, flag + " '" + text + "': expected start:stop:count");
    const double a = number(parts[0]), b = number(parts[1]);
    const double cnt = number(parts[2]);
    require(cnt >= 1 && cnt == std::floor(cnt) && cnt <= 10000,
            flag + " '" + text + "': count must be a whole number from 1 to 10000");
    const auto n = static_cast<int64_t>(cnt);
    // numpy.linspace(a, b, n): a + i·(b − a)/(n − 1), endpoint included.
    for (int64_t i = 0; i < n; ++i)
      out.push_back(n == 1 ? a : a + static_cast<double>(i) * (b - a) / static_cast<double>(n - 1));
  } else {
    out = parse_number_list(text, flag);
  }
  require(!out.empty(), flag + ": no λ values");
  for (double v : out) require(v >= 0, flag + " '" + text + "': λ must be >= 0");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace sparseloop
