// The built-in families as registered by the umbrella (sparseloop/sparseloop.h).
#include "sparseloop/sparseloop.h"

#include <gtest/gtest.h>

#include <set>

#include "support/testing.h"

using namespace sparseloop;

TEST(BuiltinFamilies, EveryModelOfTheCliContractHasItsFamily) {
  register_builtin_families();
  for (const char* m : {"csc-ctrl", "ctrl", "sdnet18", "sdnet34", "sdnet18-all", "sdnet34-all",
                        "resnet18", "resnet34", "sdl", "vdl", "sdl-nl", "vdl-nl"})
    EXPECT_NO_THROW(family_of_model(m)) << m;
  EXPECT_EQ(family_of_model("csc-ctrl").name, "ctrl");
  EXPECT_EQ(family_of_model("resnet34").name, "sdnet");
  EXPECT_EQ(family_of_model("vdl-nl").name, "vdl");
}

TEST(BuiltinFamilies, EveryPresetKeyIsAFlagOfItsFamilyOrACommonFlag) {
  register_builtin_families();
  SpecCollector common;
  CommonTrainConfig().visit(common);
  std::set<std::string> common_keys;
  for (const auto& s : common.specs) common_keys.insert(s.key);
  int checked = 0;
  for (const auto& f : families()) {
    if (f.name != "ctrl" && f.name != "sdnet" && f.name != "vdl") continue;
    std::set<std::string> keys;
    for (const auto& s : f.flags()) keys.insert(s.key);
    for (const auto& p : f.presets) {
      EXPECT_TRUE(f.has_model(p.model)) << p.name << ": model " << p.model;
      for (const auto& [k, v] : p.values) {
        EXPECT_TRUE(keys.count(k) || common_keys.count(k)) << p.name << ": --" << k;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(BuiltinFamilies, DatasetDefaultsNameExistingPresetsOfTheFamily) {
  register_builtin_families();
  for (const auto& f : families()) {
    if (!f.default_preset) continue;
    for (const auto& model : f.models)
      for (const char* data : {"mnist", "cifar10", "cifar100", "stl10", "folder", "patches"}) {
        const std::string name = f.default_preset(model, data);
        if (name.empty()) continue;
        const Preset& p = find_preset(name);
        EXPECT_TRUE(f.has_model(p.model)) << name;
        EXPECT_EQ(p.values.at("data"), data) << name;
      }
  }
  // SDNet on MNIST runs with the MNIST settings, not the CIFAR ones.
  EXPECT_EQ(family_of_model("sdnet18").default_preset("sdnet18", "mnist"), "mnist-sdnet");
}
