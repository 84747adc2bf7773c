#include "sparseloop/engine/run_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "sparseloop/engine/run_dir.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace fs = std::filesystem;
namespace {

LineChart panel_chart(const std::vector<nlohmann::json>& records, const CurvePanel& p) {
  LineChart c;
  c.title = p.title;
  c.x.label = "optimizer step";
  c.y.label = p.y_label;
  if (p.log_y) c.y.scale = AxisScale::log;
  for (const auto& line : p.lines) {
    Series s;
    s.name = line.name;
    for (const auto& r : records) {
      if (r.value("split", "") != line.split || !r.contains(line.key) || !r[line.key].is_number())
        continue;
      const double v = r[line.key].get<double>();
      if (!std::isfinite(v) || (p.log_y && v <= 0)) continue;
      s.x.push_back(r.value("step", 0.0));
      s.y.push_back(v);
    }
    if (line.split == "val") s.marker = Marker::circle;
    if (!s.x.empty()) c.series.push_back(s);
  }
  return c;
}

nlohmann::json read_json_or_null(const std::string& path) {
  if (!file_exists(path)) return nullptr;
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not valid JSON (" + std::string(e.what()).substr(0, 80) + ")");
  }
}

/// Every PNG under `dir` but checkpoints/ and `skip`, sorted.
std::vector<std::string> find_pngs(const std::string& dir, const std::vector<std::string>& skip) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    const auto& p = it->path();
    if (p.string().find("/checkpoints") != std::string::npos || p.extension() != ".png") continue;
    if (std::find(skip.begin(), skip.end(), p.string()) != skip.end()) continue;
    out.push_back(p.string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> write_training_curves(const std::string& run_dir,
                                               const std::vector<CurvePanel>& panels) {
  const auto records = read_metrics(run_dir);
  std::vector<std::string> written;
  for (const auto& p : panels) {
    LineChart c = panel_chart(records, p);
    if (c.series.empty()) continue;
    const std::string path = run_dir + "/" + p.file + ".png";
    save_plot(path, c);
    written.push_back(path);
  }
  return written;
}

std::string write_run_report(const std::string& run_dir, const std::string& out_dir,
                             const RunReportSpec& spec) {
  require(file_exists(run_dir + "/config.toml"),
          "--run " + run_dir + ": not a sparseloop run (no config.toml)");
  const std::string out = out_dir.empty() ? run_dir : out_dir;
  make_dirs(out);
  const auto eval = read_json_or_null(run_dir + "/eval.json");
  const auto summary = read_json_or_null(run_dir + "/summary.json");
  Report r(spec.title);
  r.subtitle(spec.subtitle);
  for (const auto& [k, v] : spec.meta) r.meta(k, v);
  if (!summary.is_null()) r.meta("steps", std::to_string(summary.value("steps", int64_t(0))));
  r.section("Results");
  if (spec.results) spec.results(r, eval);
  if (eval.is_null()) r.paragraph("Not evaluated yet: run `sparseloop eval --run " + run_dir + "`.");

  r.section("Training");
  // Curves redrawn from metrics.jsonl, so the report of a resumed or running
  // run is current; the PNGs in the run folder are refreshed too.
  const auto curve_files = write_training_curves(run_dir, spec.curves);
  for (const auto& p : spec.curves) {
    const std::string path = run_dir + "/" + p.file + ".png";
    if (std::find(curve_files.begin(), curve_files.end(), path) != curve_files.end())
      r.figure_file(path, p.title);
  }
  if (!summary.is_null())
    r.paragraph("Trained " + std::to_string(summary.value("steps", int64_t(0))) + " steps in " +
                format_number(summary.value("train_seconds", 0.0), 0) + " s (" +
                format_number(summary.value("images_per_second", 0.0), 0) +
                " images/s); best validation at step " +
                std::to_string(summary.value("best_step", int64_t(-1))) + ".");
  std::vector<std::string> shown = curve_files;
  if (spec.extra)
    for (const auto& f : spec.extra(r)) shown.push_back(f);

  const auto figures = find_pngs(run_dir, shown);
  if (!figures.empty()) {
    r.section("Figures");
    for (const auto& png : figures) {
      const std::string stem = fs::path(png).stem().string();
      std::string caption = spec.caption ? spec.caption(stem) : "";
      r.figure_file(png, caption.empty() ? stem : caption);
    }
  }
  r.section("Configuration");
  r.details("config.toml", read_file(run_dir + "/config.toml"));
  if (!eval.is_null()) r.details("eval.json", eval.dump(2));
  if (!summary.is_null()) r.details("summary.json", summary.dump(2));
  const std::string path = out + "/report.html";
  r.write(path);
  return path;
}

}  // namespace sparseloop
