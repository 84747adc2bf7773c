// The report and the training-curve figures of a run, built the same way for
// every family: the family says what its curves and result cards are; the
// engine reads metrics.jsonl, eval.json and summary.json, draws the curves,
// collects every figure the run's analyses wrote and assembles one
// self-contained report.html (plot/report.h).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sparseloop/plot/report.h"

namespace sparseloop {

/// One panel of training curves: lines of metrics.jsonl against the step.
struct CurvePanel {
  std::string file;     ///< written as RUN/<file>.png
  std::string title;
  std::string y_label;
  struct Line {
    std::string split;  ///< "train" | "val"
    std::string key;    ///< the metrics.jsonl key
    std::string name;   ///< legend
  };
  std::vector<Line> lines;
  bool log_y = false;
};

/// Draws each panel from RUN/metrics.jsonl into RUN/<file>.png (panels with
/// no data are skipped); returns the files written. Every trainer calls this
/// at the end of training, so every run folder carries its curves as PNG.
std::vector<std::string> write_training_curves(const std::string& run_dir,
                                               const std::vector<CurvePanel>& panels);

/// What a family puts in its runs' reports.
struct RunReportSpec {
  std::string title;     ///< e.g. "CSC-CTRL on mnist"
  std::string subtitle;  ///< the paper, the run
  std::vector<std::pair<std::string, std::string>> meta;
  std::vector<CurvePanel> curves;
  /// The results section's content from eval.json (null when the run has none).
  std::function<void(Report&, const nlohmann::json& eval)> results;
  /// Sections after the training curves (e.g. SDNet's robust-inference
  /// tables); returns the figure files it embedded (not repeated later).
  std::function<std::vector<std::string>(Report&)> extra;
  /// Caption of a figure file found in the run ("" keeps the file's name).
  std::function<std::string(const std::string& stem)> caption;
};

/// Writes OUT_DIR/report.html (OUT_DIR: the run's folder by default):
/// title and metadata, results, training curves (redrawn from metrics.jsonl),
/// the family's extra sections, every other PNG of the run (its analyses'
/// figures, checkpoints excluded), and the configuration with eval.json and
/// summary.json. Returns the report's path.
std::string write_run_report(const std::string& run_dir, const std::string& out_dir,
                             const RunReportSpec& spec);

}  // namespace sparseloop
