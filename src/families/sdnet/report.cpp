#include "sparseloop/families/sdnet/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "sparseloop/engine/config.h"
#include "sparseloop/engine/run_dir.h"
#include "sparseloop/engine/run_report.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/plot/report.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace fs = std::filesystem;

namespace {

double number_or_nan(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>()
                                                : std::numeric_limits<double>::quiet_NaN();
}

std::string level_label(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not valid JSON (" + std::string(e.what()).substr(0, 80) + ")");
  }
}

std::vector<std::string> robust_sections(Report& rep, const std::string& run_dir) {
  std::vector<std::string> shown;
  std::vector<std::string> robust_files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir + "/robust", ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("robust-", 0) == 0 && e.path().extension() == ".json")
      robust_files.push_back(e.path().string());
  }
  std::sort(robust_files.begin(), robust_files.end());
  for (const auto& path : robust_files) {
    const auto r = read_json(path);
    const bool csc = !r.at("fit").is_null();
    rep.section("Robust inference: " + r.value("corruption", std::string("?")) + " noise");
    std::ostringstream p;
    p << "Clean accuracy " << format_number(number_or_nan(r, "clean_accuracy"), 2) << " % on "
      << r.value("samples", int64_t(0)) << " test images. ";
    if (csc)
      p << "λ selected from the stem's reconstruction residual with the line λ ≈ "
        << format_number(r["fit"]["slope"].get<double>()) << "·r + "
        << format_number(r["fit"]["intercept"].get<double>()) << ", fitted on "
        << r.value("calibration", std::string("?")) << " images.";
    else
      p << "The model has no CSC stem, so there is no λ to change.";
    rep.paragraph(p.str());
    Table t;
    t.caption = "Accuracy (%) per corruption level";
    t.header = {"level", "default λ"};
    if (csc)
      t.header.insert(t.header.end(),
                      {"selected λ", "acc. selected", "best λ", "acc. best (oracle)"});
    const auto baselines = r.value("baselines", nlohmann::json::array());
    for (const auto& b : baselines) t.header.push_back(b.at("name").get<std::string>());
    for (size_t i = 0; i < r["levels"].size(); ++i) {
      const auto& l = r["levels"][i];
      std::vector<TableCell> row{l["level"].get<double>(),
                                 number_or_nan(l, "accuracy_default_lambda")};
      if (csc) {
        row.emplace_back(number_or_nan(l, "selected_lambda"));
        row.emplace_back(number_or_nan(l, "accuracy_selected_lambda"));
        row.emplace_back(number_or_nan(l, "best_lambda"));
        row.emplace_back(number_or_nan(l, "accuracy_best_lambda"));
      }
      for (const auto& b : baselines) row.emplace_back(b.at("accuracy").at(i).get<double>());
      t.rows.push_back(row);
    }
    t.decimals = {-1, 2};
    if (csc) t.decimals.insert(t.decimals.end(), {3, 2, 2, 2});
    t.decimals.resize(t.header.size(), 2);
    rep.table(t);
    const std::string stem = path.substr(0, path.size() - 5);
    for (const auto& [suffix, caption] :
         std::vector<std::pair<std::string, std::string>>{
             {".png", "Accuracy per level"},
             {"-lambda.png", "Accuracy against the stem's λ"},
             {"-fit.png", "Residual → λ fit"}})
      if (file_exists(stem + suffix)) {
        rep.figure_file(stem + suffix, caption);
        shown.push_back(stem + suffix);
      }
  }
  return shown;
}

}  // namespace

std::vector<CurvePanel> sdnet_curves() {
  return {{"training_curves",
           "Accuracy",
           "accuracy (%)",
           {{"train", "top1", "train batch top-1"}, {"val", "top1", "test top-1"},
            {"val", "top5", "test top-5"}}},
          {"training_loss", "Loss", "cross-entropy",
           {{"train", "loss", "train loss"}, {"val", "loss", "test loss"}}, /*log_y=*/true}};
}

void write_robust_figures(const nlohmann::json& r, const std::string& stem) {
  const auto& levels = r.at("levels");
  const bool csc = !r.at("fit").is_null();
  const std::string noise = r.value("corruption", "");
  // Accuracy per level: default λ, residual-selected λ, best λ (oracle).
  BarChart bars;
  bars.title = r.value("model", "") + ", " + noise + " noise";
  bars.xlabel = "corruption level";
  bars.y.label = "test accuracy (%)";
  BarSeries def{"default λ", {}, {}, {}}, sel{"selected λ (residual)", {}, {}, {}},
      best{"best λ (oracle)", {}, {}, {}};
  if (!csc) def.name = "accuracy";
  for (const auto& l : levels) {
    bars.categories.push_back(level_label(l.at("level").get<double>()));
    def.values.push_back(number_or_nan(l, "accuracy_default_lambda"));
    sel.values.push_back(number_or_nan(l, "accuracy_selected_lambda"));
    best.values.push_back(number_or_nan(l, "accuracy_best_lambda"));
  }
  bars.series = {def};
  if (csc) {
    bars.series.push_back(sel);
    bars.series.push_back(best);
  }
  // Other runs on the same corrupted images (`robust --baseline`).
  for (const auto& b : r.value("baselines", nlohmann::json::array()))
    bars.series.push_back({b.at("name").get<std::string>(),
                           b.at("accuracy").get<std::vector<double>>(), {}, {}});
  save_plot(stem + ".png", bars);
  if (!csc) return;

  // Accuracy against the stem's λ, one line per level (paper Fig. 4 left).
  LineChart sweep;
  sweep.title = "Accuracy against test-time λ (" + noise + ")";
  sweep.x.label = "λ of the stem CSC layer";
  sweep.y.label = "test accuracy (%)";
  const auto lambdas = r.at("lambdas").get<std::vector<double>>();
  for (const auto& l : levels) {
    Series s;
    s.name = "level " + level_label(l.at("level").get<double>());
    s.x = lambdas;
    s.y = l.at("accuracy").get<std::vector<double>>();
    s.marker = Marker::circle;
    s.marker_size = 4;
    sweep.series.push_back(s);
  }
  // The levels are ordered: a sequential map lets the eye follow the noise
  // level across the lines (distinct palette colors, or the 8-color palette
  // repeated as it once was, paired levels far apart).
  sweep.sequential = Colormap::viridis;
  if (sweep.series.size() > 8) sweep.legend = LegendPosition::outside_right;
  save_plot(stem + "-lambda.png", sweep);

  // The fit λ* ≈ a·r + b (authors' linear_fit_{noise}_noise_test.png), with
  // the test levels' selected λ at their measured residuals.
  ScatterFit fit;
  fit.title = "Best λ against the reconstruction residual (" + noise + ")";
  fit.x.label = "mean residual ‖x − Dz‖² at the best λ";
  fit.y.label = "best λ";
  fit.name = "calibration levels (" + r.value("calibration", "") + ")";
  for (const auto& l : levels) {
    fit.xs.push_back(number_or_nan(l, "calibration_residual"));
    fit.ys.push_back(number_or_nan(l, "calibration_best_lambda"));
  }
  LinearFit line;
  line.slope = r.at("fit").at("slope").get<double>();
  line.intercept = r.at("fit").at("intercept").get<double>();
  line.n = static_cast<int64_t>(fit.xs.size());
  fit.fit = line;
  // Where each test level's selected λ sits: its residual curve at that λ.
  Series chosen;
  chosen.name = "test levels: selected λ";
  chosen.line = LineStyle::none;
  chosen.marker = Marker::diamond;
  for (const auto& l : levels) {
    const auto res = l.at("residual").get<std::vector<double>>();
    const double s = number_or_nan(l, "selected_lambda");
    // Residual at the selected λ by linear interpolation of the test curve.
    double rv = std::numeric_limits<double>::quiet_NaN();
    for (size_t k = 0; k + 1 < lambdas.size(); ++k)
      if (s >= lambdas[k] && s <= lambdas[k + 1]) {
        const double t = (s - lambdas[k]) / (lambdas[k + 1] - lambdas[k]);
        rv = res[k] + t * (res[k + 1] - res[k]);
        break;
      }
    if (!std::isfinite(rv) && !lambdas.empty()) rv = s <= lambdas.front() ? res.front() : res.back();
    chosen.x.push_back(rv);
    chosen.y.push_back(s);
  }
  fit.extra.push_back(chosen);
  save_plot(stem + "-fit.png", fit);
}

std::string write_sdnet_report(const std::string& run_dir, const std::string& out_dir) {
  require(file_exists(run_dir + "/config.toml"),
          "--run " + run_dir + ": not a sparseloop run (no config.toml)");
  const ConfigValues values = read_config_file(run_dir + "/config.toml");
  const std::string model = values.count("model") ? values.at("model") : "?";
  const auto records = read_metrics(run_dir);
  RunReportSpec spec;
  spec.title = "SDNet run: " + model;
  spec.subtitle = "Dai et al., \"Revisiting Sparse Convolutional Model for Visual Recognition\", "
                  "NeurIPS 2022 — run " + run_dir;
  spec.meta = {{"model", model}};
  spec.curves = sdnet_curves();
  spec.results = [&records](Report& rep, const nlohmann::json& e) {
    double best = std::numeric_limits<double>::quiet_NaN(), last = best, last5 = best;
    for (const auto& r : records) {
      if (r.value("split", "") != "val") continue;
      last = number_or_nan(r, "top1");
      last5 = number_or_nan(r, "top5");
      if (!std::isfinite(best) || last > best) best = last;
    }
    std::vector<MetricCard> cards;
    cards.push_back({"best test top-1", format_number(best, 2) + " %", "", "over validations"});
    cards.push_back({"final test top-1", format_number(last, 2) + " %", "",
                     "top-5 " + format_number(last5, 2) + " %"});
    if (!e.is_null())
      cards.push_back({"eval top-1", format_number(number_or_nan(e, "top1"), 2) + " %", "",
                       "checkpoint " + e.value("checkpoint", std::string("?"))});
    rep.cards(cards);
  };
  spec.extra = [&run_dir](Report& rep) { return robust_sections(rep, run_dir); };
  return write_run_report(run_dir, out_dir, spec);
}

}  // namespace sparseloop
