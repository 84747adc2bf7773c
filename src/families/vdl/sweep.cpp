#include "sparseloop/families/vdl/sweep.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "sparseloop/engine/config.h"
#include "sparseloop/families/vdl/trainer.h"
#include "sparseloop/plot/plot.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/log.h"

namespace sparseloop {
namespace {

std::string lambda_name(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

}  // namespace

nlohmann::json vdl_sweep(const VdlSweepRequest& f) {
  require(!f.out.empty(), "--out DIR is required");
  require(f.data == "mnist" || f.data == "patches", "--data " + f.data + ": expected mnist or patches");
  require(f.epochs >= 0 && f.max_steps >= 0, "--epochs and --max-steps must be >= 0");
  for (double v : f.lambdas) require(v >= 0, "--lambda values must be >= 0");
  const auto& models = f.models;
  require(!models.empty(), "--models: give a comma-separated list (sdl, vdl, sdl-nl, vdl-nl)");
  const ConfigValues& extra = f.options;
  const auto& lambdas = f.lambdas;
  make_dirs(f.out);
  nlohmann::json results = nlohmann::json::array();
  LineChart chart;
  chart.title = "Sparsity–PSNR trade-off over λ (" + f.data + ", test, encoder codes)";
  chart.x = {"fraction of zero code entries (%)"};
  chart.y = {"PSNR (dB)"};
  for (const auto& model : models) {
    const std::string preset_name = f.data + "-" + model;
    const auto all = vdl_presets();
    auto found = std::find_if(all.begin(), all.end(),
                              [&](const Preset& p) { return p.name == preset_name; });
    require(found != all.end(), "--models " + model + ": no preset " + preset_name +
                                    " (models: sdl, vdl, sdl-nl, vdl-nl)");
    const Preset& preset = *found;
    Series series{model};
    series.marker = Marker::circle;
    for (double lam : lambdas) {
      const std::string dir = f.out + "/" + model + "-lambda-" + lambda_name(lam);
      nlohmann::json eval;
      if (file_exists(dir + "/eval.json")) {
        eval = nlohmann::json::parse(read_file(dir + "/eval.json"));
        say("reusing " + dir);
      } else {
        ConfigValues values = preset.values;
        values["model"] = model;
        values["preset"] = preset.name;
        values["data"] = f.data;
        values["lambda"] = lambda_name(lam);
        values["out"] = dir;
        values["device"] = f.device;
        values["seed"] = std::to_string(f.seed);
        values["threads"] = std::to_string(f.threads);
        if (!f.data_dir.empty()) values["data-dir"] = f.data_dir;
        if (f.epochs > 0) values["epochs"] = std::to_string(f.epochs);
        if (f.max_steps > 0) values["max-steps"] = std::to_string(f.max_steps);
        for (const auto& [k, v] : extra) values[k] = v;
        CommonTrainConfig common;
        VdlConfig cfg;
        ValuesReader rc(values, "sweep");
        common.visit(rc);
        cfg.visit(rc);
        const auto unused = rc.unused();
        require(unused.empty(), "--option " + (unused.empty() ? "" : unused.front()) +
                                    ": not a flag of the VDL models");
        // An interrupted run (checkpoints, no eval.json) is resumed.
        common.resume = file_exists(dir + "/config.toml");
        say("training " + model + " with λ = " + lambda_name(lam) + " -> " + dir);
        eval = train_vdl(common, cfg)["test"];
      }
      const double sparsity = eval.value("sparsity", 0.0), psnr = eval.value("psnr", 0.0);
      results.push_back({{"model", model},
                         {"lambda", lam},
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
