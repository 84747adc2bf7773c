// Every family's run carries TensorBoard events (RUN/tb/): one scalar per
// number of metrics.jsonl (tag <split>/<key>, same step, float32 of the same
// value) and the model's pictures at each validation, read back by the
// tests' own reader (support/tfevents_reader.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "sparseloop/engine/run_dir.h"
#include "support/digits_suite.h"
#include "support/testing.h"
#include "support/tfevents_reader.h"

using namespace sparseloop;
namespace fs = std::filesystem;
namespace td = sparseloop::test_data;
namespace tt = sparseloop::test_tfevents;

namespace {

class TensorBoardRuns : public ::testing::TestWithParam<std::pair<std::string, std::string>> {
 protected:
  static void SetUpTestSuite() { dir_ = td::digits_suite_folder(); }
  static void TearDownTestSuite() { delete dir_; }
  static ts::TempDir* dir_;
};
ts::TempDir* TensorBoardRuns::dir_ = nullptr;

}  // namespace

TEST_P(TensorBoardRuns, ScalarsEqualMetricsAndPicturesDecode) {
  const auto& [name, args] = GetParam();
  const std::string run = dir_->file(name);
  auto r = ts::run_cli("train " + args + " --data mnist --data-dir " + dir_->file("digits") +
                       " --out " + run + " --threads 1 --seed 2 --log-every 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(run + "/tb")) files.push_back(e.path().string());
  ASSERT_EQ(files.size(), 1u);
  const auto events = tt::read_events(files[0]);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].file_version, "brain.Event:2");

  std::map<std::pair<std::string, int64_t>, float> scalars;
  int images = 0;
  for (const auto& e : events) {
    if (e.has_scalar) scalars[{e.tag, e.step}] = e.scalar;
    if (e.has_image) {
      ++images;
      EXPECT_EQ(e.tag.rfind("atoms/", 0), 0u) << e.tag;
      const auto png = ts::decode_png(e.image.png);  // (C, H, W)
      EXPECT_EQ(png.size(1), e.image.height);
      EXPECT_EQ(png.size(2), e.image.width);
      EXPECT_GT(e.image.height, 8);
    }
  }
  size_t expected = 0;
  for (const auto& rec : read_metrics(run)) {
    const int64_t step = rec["step"].get<int64_t>();
    for (auto it = rec.begin(); it != rec.end(); ++it) {
      if (it.key() == "step" || it.key() == "epoch" || it.key() == "time" || it.key() == "split" ||
          !it.value().is_number())
        continue;
      ++expected;
      const std::string tag = rec["split"].get<std::string>() + "/" + it.key();
      auto found = scalars.find({tag, step});
      ASSERT_NE(found, scalars.end()) << tag << " at step " << step;
      EXPECT_EQ(found->second, static_cast<float>(it.value().get<double>())) << tag;
    }
  }
  EXPECT_GT(expected, 5u);
  EXPECT_EQ(scalars.size(), expected);
  EXPECT_GE(images, 2);  // one per validation (two validations below)
}

INSTANTIATE_TEST_SUITE_P(
    Families, TensorBoardRuns,
    ::testing::Values(
        std::make_pair(std::string("csc_ctrl"),
                       std::string("--preset mnist-csc-ctrl --width 4 --batch-size 16 --max-steps 4 "
                                   "--eval-every 2 --val-size 20 --classifier-epochs 1")),
        std::make_pair(std::string("sdnet"),
                       std::string("--model sdnet18 --width 4 --batch-size 12 --max-steps 4 "
                                   "--eval-every 2 --test-limit 12")),
        std::make_pair(std::string("vdl"),
                       std::string("--preset mnist-vdl --batch-size 20 --max-steps 4 --eval-every 2 "
                                   "--train-limit 60"))),
    [](const auto& info) { return info.param.first; });
