// The family registry and the resolution of `sparseloop train` values
// (engine/family.h), with a family made up here: the engine must work for
// any family, not only the built-in ones.
#include "sparseloop/engine/family.h"

#include <gtest/gtest.h>

#include <fstream>

#include "sparseloop/util/error.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

struct ToyConfig {
  double rate = 1.0;
  int64_t width = 8;
  template <class V>
  void visit(V& v) {
    v("rate", rate, "a rate");
    v("width", width, "a width");
  }
};

nlohmann::json toy_train(const CommonTrainConfig& common, const ToyConfig& c) {
  return {{"model", common.model}, {"rate", c.rate}, {"width", c.width},
          {"epochs", common.epochs}, {"max_steps", common.max_steps}, {"data", common.data}};
}

/// Registers the toy family once: models toy-a, toy-b; presets for two datasets.
void register_toy() {
  Family f;
  f.name = "toy";
  f.title = "Toy";
  f.models = {"toy-a", "toy-b"};
  f.presets = {{"digits-toy", "toy-a", "toy on digits", {{"data", "digits"}, {"rate", "0.5"},
                                                         {"max-steps", "100"}}},
               {"photos-toy", "toy-b", "toy on photos", {{"data", "photos"}, {"epochs", "7"},
                                                         {"width", "64"}}}};
  f.flags = family_flags<ToyConfig>();
  f.default_preset = [](const std::string&, const std::string& data) -> std::string {
    return data == "digits" ? "digits-toy" : "";
  };
  f.train = family_trainer<ToyConfig>(f.title, &toy_train);
  register_family(f);
}

}  // namespace

TEST(Family, RegistryFindsModelsAndPresetsAndNamesTheChoices) {
  register_toy();
  register_toy();  // idempotent by name
  int toys = 0;
  for (const auto& f : families()) toys += f.name == "toy";
  EXPECT_EQ(toys, 1);
  EXPECT_EQ(family_of_model("toy-b").name, "toy");
  auto what = ts::expect_input_error([] { family_of_model("toy-c", "--model"); });
  EXPECT_NE(what.find("--model 'toy-c'"), std::string::npos) << what;
  EXPECT_NE(what.find("toy-a"), std::string::npos) << what;
  EXPECT_EQ(find_preset("photos-toy").model, "toy-b");
  what = ts::expect_input_error([] { find_preset("nope"); });
  EXPECT_NE(what.find("digits-toy"), std::string::npos) << what;
  EXPECT_EQ(family_of_train({{"preset", "photos-toy"}})->name, "toy");
  EXPECT_EQ(family_of_train({{"out", "x"}}), nullptr);
}

TEST(Family, PrecedenceFlagsOverConfigFileOverPresetOverDataDefault) {
  register_toy();
  // No preset named: the family's preset for the data applies.
  auto v = resolve_train_values({{"model", "toy-b"}, {"data", "digits"}}).values;
  EXPECT_EQ(v["rate"], "0.5");
  EXPECT_EQ(v["model"], "toy-b");  // the explicit model wins over the preset's
  EXPECT_EQ(v["preset"], "digits-toy");
  // No preset for the data: the family's own defaults.
  v = resolve_train_values({{"model", "toy-b"}, {"data", "other"}}).values;
  EXPECT_EQ(v.count("rate"), 0u);
  // A named preset wins over the data default; flags win over both.
  v = resolve_train_values({{"preset", "photos-toy"}, {"data", "digits"}, {"width", "3"}}).values;
  EXPECT_EQ(v["width"], "3");
  EXPECT_EQ(v["epochs"], "7");
  EXPECT_EQ(v["model"], "toy-b");
  // The config file sits between the flags and the preset.
  ts::TempDir dir;
  {
    std::ofstream f(dir.file("c.toml"));
    f << "preset = \"photos-toy\"\nwidth = 5\nrate = 2.0\n";
  }
  auto r = resolve_train_values({{"config", dir.file("c.toml")}, {"rate", "3"}});
  EXPECT_EQ(r.values["width"], "5");
  EXPECT_EQ(r.values["rate"], "3");
  EXPECT_EQ(r.values["epochs"], "7");
  EXPECT_EQ(r.source, dir.file("c.toml"));
  EXPECT_EQ(r.values.count("config"), 0u);
}

TEST(Family, TrainingLengthFromAnUpperLevelDropsTheOtherCount) {
  register_toy();
  // The preset counts steps; the user counts epochs: epochs win, steps go.
  auto v = resolve_train_values({{"preset", "digits-toy"}, {"epochs", "2"}}).values;
  EXPECT_EQ(v["epochs"], "2");
  EXPECT_EQ(v.count("max-steps"), 0u);
  v = resolve_train_values({{"preset", "photos-toy"}, {"max-steps", "9"}}).values;
  EXPECT_EQ(v["max-steps"], "9");
  EXPECT_EQ(v.count("epochs"), 0u);
}

TEST(Family, TrainSplitsCommonAndFamilyValuesAndRejectsForeignKeys) {
  register_toy();
  ts::TempDir dir;
  auto j = train({{"model", "toy-a"}, {"data", "digits"}, {"out", dir.file("run")},
                  {"width", "12"}, {"epochs", "3"}});
  EXPECT_EQ(j["rate"], 0.5);
  EXPECT_EQ(j["width"], 12);
  EXPECT_EQ(j["epochs"], 3);
  EXPECT_EQ(j["max_steps"], 0);
  auto what = ts::expect_input_error(
      [&] { train({{"model", "toy-a"}, {"out", dir.file("run")}, {"gamma", "1"}}); });
  EXPECT_NE(what.find("--gamma: not a flag of the Toy models"), std::string::npos) << what;
  what = ts::expect_input_error([&] { train({{"model", "toy-a"}}); });
  EXPECT_NE(what.find("--out"), std::string::npos) << what;
}

TEST(Family, ResumeReadsTheRunsSavedConfiguration) {
  register_toy();
  ts::TempDir dir;
  {
    std::ofstream f(dir.file("config.toml"));
    f << "model = \"toy-b\"\nmax_steps = 40\n[toy]\nrate = 0.25\n";
  }
  EXPECT_EQ(family_of_train({{"out", dir.path()}, {"resume", "true"}})->name, "toy");
  auto r = resolve_train_values({{"out", dir.path()}, {"resume", "true"}, {"max-steps", "80"}});
  EXPECT_EQ(r.values["rate"], "0.25");
  EXPECT_EQ(r.values["max-steps"], "80");
  EXPECT_EQ(r.source, dir.file("config.toml"));
}
