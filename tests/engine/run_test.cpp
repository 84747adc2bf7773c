// Opening a run folder for analysis (engine/run.h), on folders written here.
#include "sparseloop/engine/run.h"

#include <gtest/gtest.h>

#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

struct ToyConfig {
  double rate = 1.0;
  template <class V>
  void visit(V& v) {
    v("rate", rate, "a rate");
  }
};

/// A run of family "toy" with final and best weights of a Linear(2, 3).
std::string make_run(const ts::TempDir& dir, torch::nn::Linear& net) {
  const std::string run = dir.file("run");
  make_dirs(run + "/checkpoints/best");
  write_file_atomic(run + "/config.toml", "model = \"toy-a\"\nmax_steps = 7\n[toy]\nrate = 0.5\n");
  write_file_atomic(run + "/model_info.json", "{\"inputs\": 2, \"outputs\": 3}\n");
  save_weights(run + "/model.safetensors", *net);
  save_weights(run + "/checkpoints/best/model.safetensors", *net);
  return run;
}

}  // namespace

TEST(RunFolder, OpensConfigShapesAndTheWeightsOfACheckpoint) {
  ts::TempDir dir;
  torch::manual_seed(0);
  torch::nn::Linear net(2, 3);
  const std::string run = make_run(dir, net);
  RunFolder r = open_run(run, "best", "toy");
  EXPECT_EQ(r.common.model, "toy-a");
  EXPECT_EQ(r.common.max_steps, 7);
  EXPECT_EQ(model_info_int(r, "outputs"), 3);
  EXPECT_EQ(r.weights, run + "/checkpoints/best/model.safetensors");
  ToyConfig c;
  read_family_config(r, c);
  EXPECT_EQ(c.rate, 0.5);
  torch::nn::Linear copy(2, 3);
  load_run_model(r, *copy, torch::kCPU);
  EXPECT_TRUE(torch::equal(copy->weight, net->weight));
  EXPECT_FALSE(copy->is_training());
  EXPECT_EQ(checkpoint_weights(run, "final"), run + "/model.safetensors");
}

TEST(RunFolder, BadRunsNameTheFolderTheFileOrTheFlag) {
  ts::TempDir dir;
  torch::nn::Linear net(2, 3);
  const std::string run = make_run(dir, net);
  auto what = ts::expect_input_error([&] { open_run(dir.file("none"), "best", "toy"); });
  EXPECT_NE(what.find("not a sparseloop run"), std::string::npos) << what;
  what = ts::expect_input_error([&] { open_run(run, "best", "other"); });
  EXPECT_NE(what.find("[other]"), std::string::npos) << what;
  what = ts::expect_input_error([&] { open_run(run, "latest", "toy"); });
  EXPECT_NE(what.find("--checkpoint 'latest'"), std::string::npos) << what;
  what = ts::expect_input_error([&] { open_run(run, "step-00000009", "toy"); });
  EXPECT_NE(what.find("step-00000009"), std::string::npos) << what;
  RunFolder r = open_run(run, "final", "toy");
  what = ts::expect_input_error([&] { model_info_int(r, "depth"); });
  EXPECT_NE(what.find("'depth'"), std::string::npos) << what;
  write_file_atomic(run + "/model_info.json", "{broken");
  what = ts::expect_input_error([&] { open_run(run, "final", "toy"); });
  EXPECT_NE(what.find("model_info.json: damaged"), std::string::npos) << what;
  // Weights of another shape: the file and the tensor are named.
  torch::nn::Linear other(2, 4);
  save_weights(run + "/model.safetensors", *other);
  write_file_atomic(run + "/model_info.json", "{}");
  r = open_run(run, "final", "toy");
  torch::nn::Linear copy(2, 3);
  what = ts::expect_input_error([&] { load_run_model(r, *copy, torch::kCPU); });
  EXPECT_NE(what.find("model.safetensors"), std::string::npos) << what;
  EXPECT_NE(what.find("weight"), std::string::npos) << what;
}
