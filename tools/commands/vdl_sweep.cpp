// `sparseloop sweep`: the sparsity–PSNR trade-off of the VDL family over λ
// (Evtimova & LeCun 2022, Figure 4). For every model and λ it trains a run
// from the data's preset (`<data>-<model>`) with λ replaced, evaluates the
// best checkpoint on the test split, and plots test PSNR against the
// fraction of zero code entries. Runs that already hold eval.json are
// reused, so an interrupted sweep continues where it stopped.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "commands.h"
#include "sparseloop/io/plot.h"
#include "sparseloop/train/config.h"
#include "sparseloop/train/vdl_trainer.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/signals.h"

namespace sparseloop::cli {
namespace {

struct SweepFlags {
  CommonFlags common;
  std::string models = "sdl,vdl";
  std::string data = "mnist";
  std::string data_dir;
  std::string lambdas = "0.002,0.005,0.01,0.02,0.05";
  std::string out;
  int64_t epochs = 0;
  int64_t max_steps = 0;
  std::vector<std::string> options;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string lambda_name(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

int run_sweep(const SweepFlags& f) {
  require(!f.out.empty(), "--out DIR is required");
  require(f.epochs >= 0 && f.max_steps >= 0, "--epochs and --max-steps must be >= 0");
  auto lambdas = parse_number_list(f.lambdas, "--lambda");
  for (double v : lambdas) require(v >= 0, "--lambda values must be >= 0");
  auto models = split_list(f.models);
  require(!models.empty(), "--models: give a comma-separated list (sdl, vdl, sdl-nl, vdl-nl)");
  ConfigValues extra;
  for (const auto& kv : f.options) {
    auto eq = kv.find('=');
    require(eq != std::string::npos && eq > 0,
            "--option '" + kv + "': expected KEY=VALUE (a `sparseloop train` flag without dashes)");
    extra[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  make_dirs(f.out);
  install_stop_handlers();
  nlohmann::json results = nlohmann::json::array();
  LineChart chart;
  chart.title = "Sparsity–PSNR trade-off over λ (" + f.data + ", test, encoder codes)";
  chart.x = {"fraction of zero code entries (%)"};
  chart.y = {"PSNR (dB)"};
  for (const auto& model : models) {
    const Preset& preset = find_preset(f.data + "-" + model);
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
        values["device"] = f.common.device;
        values["seed"] = std::to_string(f.common.seed);
        values["threads"] = std::to_string(f.common.threads);
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
        try {
          eval = train_vdl(common, cfg)["test"];
        } catch (const StopRequested& stop) {
          say("stopped by signal; run the same command again to continue the sweep");
          return stop.code();
        }
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
  print_json(f.common, j);
  return 0;
}

}  // namespace

void register_sweep(CLI::App& app, std::vector<Command>& commands) {
  auto f = std::make_shared<SweepFlags>();
  auto* cmd = add_command(app, commands, "sweep",
                          "Sparsity–PSNR trade-off of sdl/vdl models over λ (VDL paper, Fig. 4)",
                          [f] { return run_sweep(*f); });
  cmd->add_option("--models", f->models, "comma-separated: sdl, vdl, sdl-nl, vdl-nl")
      ->capture_default_str();
  cmd->add_option("--data", f->data, "mnist | patches (the preset <data>-<model> is used)")
      ->capture_default_str()
      ->check(CLI::IsMember({"mnist", "patches"}));
  cmd->add_option("--data-dir", f->data_dir, "dataset folder (default: the embedded data)");
  cmd->add_option("--lambda", f->lambdas, "comma-separated λ values")->capture_default_str();
  cmd->add_option("--out", f->out, "folder for one run per (model, λ), sweep.json and sweep.png")
      ->required();
  cmd->add_option("--epochs", f->epochs, "epochs per run (0: the preset's)")->capture_default_str();
  cmd->add_option("--max-steps", f->max_steps, "optimizer steps per run (0: use epochs)")
      ->capture_default_str();
  cmd->add_option("--option", f->options,
                  "KEY=VALUE: any `sparseloop train` flag for every run (repeatable), e.g. "
                  "patches-train=20000");
  add_common_flags(cmd, f->common);
}

}  // namespace sparseloop::cli
