// A training run's folder (docs/cli.md §4.6):
//   config.toml      the resolved configuration
//   metrics.jsonl    one JSON object per logged step (flushed per line)
//   tb/              the same scalars, and pictures, as TensorBoard event files
//   checkpoints/     step-XXXXXXXX/ and best/ (written atomically)
//   model.safetensors  final (or best) weights
//   *.png            figures
#pragma once

#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/io/tfevents.h"

namespace sparseloop {

/// In a distributed run only rank 0 writes (util/distributed.h): the other
/// ranks' RunDir creates nothing and its writes do nothing.
class RunDir {
 public:
  /// Opens (creating) the folder. With `resume` false, refuses a folder that
  /// already holds checkpoints (InputError: "use --resume or another --out").
  RunDir(std::string path, bool resume);

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string checkpoints() const { return path_ + "/checkpoints"; }

  /// Writes config.toml atomically.
  void write_config(const std::string& toml) const;
  /// Appends one line to metrics.jsonl (adds "time" in seconds since start),
  /// and each of its numbers as a TensorBoard scalar `<split>/<key>` at its
  /// "step" (tb/; "step", "epoch", "time" and "split" themselves are not).
  void log(nlohmann::json record);
  /// A picture of the run at `step` for TensorBoard (tb/; io/png.h images).
  void image(const std::string& tag, const torch::Tensor& image, int64_t step);
  /// On resume: drops metrics.jsonl records logged after `step` (the part of
  /// an interrupted run that the resumed run will redo).
  void truncate_metrics_after(int64_t step);
  /// Writes `name` (JSON, pretty) atomically.
  void write_json(const std::string& name, const nlohmann::json& value) const;

 private:
  std::string path_;
  std::ofstream metrics_;
  std::unique_ptr<EventWriter> tb_;  // rank 0 only
  double start_;
};

/// Reads RUN_DIR/metrics.jsonl into records (skipping a torn last line).
std::vector<nlohmann::json> read_metrics(const std::string& run_dir);

}  // namespace sparseloop
