#include "sparseloop/families/vdl/sweep.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "sparseloop/engine/config.h"
#include "sparseloop/families/vdl/trainer.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/log.h"
#include "sparseloop/util/output_path.h"

namespace sparseloop {
namespace {

std::string lambda_name(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

/// The test metrics of a finished run (its eval.json), reused by a sweep run
/// again: a damaged file is named (it once escaped as nlohmann's parse or
/// type error, exit 1), with what to do.
nlohmann::json read_finished_eval(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": damaged (" + std::string(e.what()).substr(0, 80) +
                     "); delete it to evaluate the run again");
  }
  bool ok = j.is_object();
  for (const char* key : {"sparsity", "psnr", "denoise_psnr", "fista_sparsity", "fista_psnr"})
    ok = ok && (!j.contains(key) || j[key].is_number());
  require(ok, path + ": damaged (not an object of numbers); delete it to evaluate the run again");
  return j;
}

}  // namespace

nlohmann::json vdl_sweep(const VdlSweepRequest& f) {
  require(!f.out.empty(), "--out DIR is required");
  require(f.data == "mnist" || f.data == "patches", "--data " + f.data + ": expected mnist or patches");
  require(f.epochs >= 0 && f.max_steps >= 0, "--epochs and --max-steps must be >= 0");
  require(f.epochs == 0 || f.max_steps == 0, "--epochs and --max-steps: give one of them");
  for (double v : f.lambdas) require(v >= 0, "--lambda values must be >= 0");
  const auto& models = f.models;
  require(!models.empty(), "--models: give a comma-separated list (sdl, vdl, sdl-nl, vdl-nl)");
  require(!f.lambdas.empty(), "--lambda: give a comma-separated list of values");
  require(f.data_dir.empty() || std::filesystem::is_directory(f.data_dir),
          "--data-dir " + f.data_dir + ": no such folder");
  // Every run's configuration is resolved and checked before anything is
  // written or trained: a bad --models, --option or flag range once left
  // DIR (and a run folder in it) behind, or surfaced only after the runs
  // before it had trained.
  struct PlannedRun {
    std::string model, dir;
    double lambda;
    CommonTrainConfig common;
    VdlConfig cfg;
  };
  std::vector<PlannedRun> plan;
  for (const auto& model : models) {
    const std::string preset_name = f.data + "-" + model;
    const auto all = vdl_presets();
    auto found = std::find_if(all.begin(), all.end(),
                              [&](const Preset& p) { return p.name == preset_name; });
    require(found != all.end(), "--models " + model + ": no preset " + preset_name +
                                    " (models: sdl, vdl, sdl-nl, vdl-nl)");
    for (double lam : f.lambdas) {
      PlannedRun r{model, f.out + "/" + model + "-lambda-" + lambda_name(lam), lam, {}, {}};
      ConfigValues values = found->values;
      values["model"] = model;
      values["preset"] = found->name;
      values["data"] = f.data;
      values["lambda"] = lambda_name(lam);
      values["out"] = r.dir;
      values["device"] = f.device;
      values["seed"] = std::to_string(f.seed);
      values["threads"] = std::to_string(f.threads);
      if (!f.data_dir.empty()) values["data-dir"] = f.data_dir;
      // The length given replaces the preset's, in either unit (§4.3).
      if (f.epochs > 0 || f.max_steps > 0) values.erase("epochs"), values.erase("max-steps");
      if (f.epochs > 0) values["epochs"] = std::to_string(f.epochs);
      if (f.max_steps > 0) values["max-steps"] = std::to_string(f.max_steps);
      for (const auto& [k, v] : f.options) values[k] = v;
      ValuesReader rc(values, "--option");
      r.common.visit(rc);
      r.cfg.visit(rc);
      const auto unused = rc.unused();
      require(unused.empty(), "--option " + (unused.empty() ? "" : unused.front()) +
                                  ": not a flag of the VDL models");
      check_common_ranges(r.common);
      resolve_vdl_options(model, r.cfg);  // the family's ranges
      plan.push_back(std::move(r));
    }
  }
  require_writable_folder_path(f.out, "--out");
  nlohmann::json results = nlohmann::json::array();
  LineChart chart;
  chart.title = "Sparsity–PSNR trade-off over λ (" + f.data + ", test, encoder codes)";
  chart.x = {"fraction of zero code entries (%)"};
  chart.y = {"PSNR (dB)"};
  for (const auto& model : models) {
    Series series{model};
    series.marker = Marker::circle;
    for (auto& r : plan) {
      if (r.model != model) continue;
      const std::string& dir = r.dir;
      nlohmann::json eval;
      if (file_exists(dir + "/eval.json")) {
        eval = read_finished_eval(dir + "/eval.json");
        say("reusing " + dir);
      } else {
        // An interrupted run (checkpoints, no eval.json) is resumed.
        r.common.resume = file_exists(dir + "/config.toml");
        say("training " + model + " with λ = " + lambda_name(r.lambda) + " -> " + dir);
        eval = train_vdl(r.common, r.cfg)["test"];
      }
      const double sparsity = eval.value("sparsity", 0.0), psnr = eval.value("psnr", 0.0);
      results.push_back({{"model", model},
                         {"lambda", r.lambda},
                         {"sparsity", sparsity},
                         {"psnr", psnr},
                         {"denoise_psnr", eval.value("denoise_psnr", 0.0)},
                         {"fista_sparsity", eval.value("fista_sparsity", 0.0)},
                         {"fista_psnr", eval.value("fista_psnr", 0.0)},
                         {"run", dir}});
      series.x.push_back(100 * sparsity);
      series.y.push_back(psnr);
    }
    chart.series.push_back(series);
  }
  save_plot(f.out + "/sweep.png", chart);
  nlohmann::json j = {{"data", f.data}, {"results", results}, {"figure", f.out + "/sweep.png"}};
  write_file_atomic(f.out + "/sweep.json", j.dump(2) + "\n");
  std::ostringstream t;
  t << "model    lambda   sparsity %   PSNR dB\n";
  for (const auto& r : results) {
    std::ostringstream sp, ps;
    sp << std::fixed << std::setprecision(1) << 100 * r["sparsity"].get<double>();
    ps << std::fixed << std::setprecision(2) << r["psnr"].get<double>();
    t << std::left << std::setw(8) << r["model"].get<std::string>() << " " << std::setw(8)
      << lambda_name(r["lambda"].get<double>()) << " " << std::setw(12) << sp.str() << " "
      << ps.str() << "\n";
  }
  say(t.str() + "-> " + f.out + "/sweep.png");
  return j;
}

}  // namespace sparseloop
