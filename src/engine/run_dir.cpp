#include "sparseloop/engine/run_dir.h"

#include <chrono>
#include <filesystem>

#include "sparseloop/util/atomic_temp.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/log.h"

namespace sparseloop {
namespace fs = std::filesystem;

static double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

RunDir::RunDir(std::string path, bool resume) : path_(std::move(path)), start_(now_seconds()) {
  require(!path_.empty(), "--out: a run folder is required");
  std::error_code ec;
  if (fs::exists(path_, ec) && !fs::is_directory(path_, ec))
    throw InputError("--out " + path_ + ": exists and is not a folder");
  const bool has_checkpoints =
      fs::exists(checkpoints(), ec) && !fs::is_empty(checkpoints(), ec);
  if (!resume && has_checkpoints)
    throw InputError("--out " + path_ +
                     ": already holds a run with checkpoints; use --resume to continue it or "
                     "choose another --out");
  // Rank 0 alone writes the run folder; the other ranks of a distributed run
  // read it (checkpoints on --resume) and write nothing.
  if (!world().root()) return;
  make_dirs(path_);
  make_dirs(checkpoints());
  // What an earlier process killed mid-write (SIGKILL, power loss) left of
  // its atomic writes: `config.toml.tmp-PID-N` and the like, never renamed.
  // Only those of dead processes go (util/atomic_temp.h).
  const auto stale = remove_stale_temp_files(path_);
  if (!stale.empty())
    say("removed " + std::to_string(stale.size()) + " temporary file" +
        (stale.size() == 1 ? "" : "s") + " a killed run left in " + path_ + " (" +
        stale.front() + (stale.size() == 1 ? "" : ", …") + ")");
  metrics_.open(file("metrics.jsonl"), std::ios::app);
  if (!metrics_) throw InputError(file("metrics.jsonl") + ": cannot open for writing");
  tb_ = std::make_unique<EventWriter>(file("tb"));
}

void RunDir::write_config(const std::string& toml) const {
  if (world().root()) write_file_atomic(file("config.toml"), toml);
}

void RunDir::log(nlohmann::json record) {
  if (!world().root()) return;
  record["time"] = now_seconds() - start_;
  metrics_ << record.dump() << "\n";
  metrics_.flush();
  if (!tb_ || !record.contains("step") || !record["step"].is_number_integer()) return;
  const int64_t step = record["step"].get<int64_t>();
  const std::string split = record.value("split", std::string("train"));
  for (auto it = record.begin(); it != record.end(); ++it) {
    const std::string& key = it.key();
    if (key == "step" || key == "epoch" || key == "time" || key == "split") continue;
    if (it.value().is_number()) tb_->scalar(split + "/" + key, it.value().get<double>(), step);
  }
  tb_->flush();  // one write per record, as metrics.jsonl
}

void RunDir::image(const std::string& tag, const torch::Tensor& image, int64_t step) {
  if (tb_) tb_->image(tag, image, step);
}

void RunDir::truncate_metrics_after(int64_t step) {
  if (!world().root()) return;
  metrics_.close();
  std::string kept;
  for (const auto& r : read_metrics(path_))
    if (!r.contains("step") || !r["step"].is_number() || r["step"].get<int64_t>() <= step)
      kept += r.dump() + "\n";
  write_file_atomic(file("metrics.jsonl"), kept);
  metrics_.open(file("metrics.jsonl"), std::ios::app);
  if (tb_) tb_->session_start(step);
}

void RunDir::write_json(const std::string& name, const nlohmann::json& value) const {
  if (!world().root()) return;
  write_file_atomic(file(name), value.dump(2) + "\n");
}

std::vector<nlohmann::json> read_metrics(const std::string& run_dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const std::exception&) {
      // A torn last line (killed mid-write) is skipped.
    }
  }
  return out;
}

}  // namespace sparseloop
