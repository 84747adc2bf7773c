// Typed checks of state.json's `extra` fields (engine/state_extra.h): what a
// family reads from a resumed checkpoint is refused, naming the file and the
// field, when its type or range is wrong.
#include <gtest/gtest.h>

#include "sparseloop/engine/state_extra.h"
#include "support/testing.h"

using namespace sparseloop;
using nlohmann::json;

TEST(StateExtra, WrongTypesAndRangesNameTheFileAndField) {
  const std::string src = "run/checkpoints/step-00000004/state.json";
  const json bad_integers[] = {"3", 2.5, -1, true, json::array(), nullptr,
                               json::parse("18446744073709551615")};
  for (const auto& v : bad_integers) {
    const std::string m = ts::expect_input_error(
        [&] { check_extra_integer(json{{"stale_validations", v}}, "stale_validations", 0, src); });
    EXPECT_EQ(m.rfind(src + ": damaged ('extra.stale_validations' is ", 0), 0u) << m;
    EXPECT_NE(m.find("expected an integer >= 0"), std::string::npos) << m;
  }
  for (const auto& v : {json("low"), json(nullptr), json::object(), json(false)}) {
    const std::string m = ts::expect_input_error(
        [&] { check_extra_number(json{{"vdl_best_energy", v}}, "vdl_best_energy", src); });
    EXPECT_NE(m.find(src + ": damaged ('extra.vdl_best_energy'"), std::string::npos) << m;
  }
  for (const auto& v : {json(3), json("x"), json::array()}) {
    const std::string m = ts::expect_input_error(
        [&] { check_extra_object(json{{"last_validation", v}}, "last_validation", src); });
    EXPECT_NE(m.find("'extra.last_validation'"), std::string::npos) << m;
  }
}

TEST(StateExtra, AbsentOrWellTypedFieldsPass) {
  const json extra = {{"stale_validations", 3},
                      {"vdl_best_energy", -0.25},
                      {"last_validation", {{"psnr", 20.5}, {"samples", 40}}}};
  check_extra_integer(extra, "stale_validations", 0, "s");
  check_extra_number(extra, "vdl_best_energy", "s");
  check_extra_number(json{{"vdl_best_energy", 7}}, "vdl_best_energy", "s");  // written as 7
  check_extra_object(extra, "last_validation", "s");
  check_extra_integer(json::object(), "stale_validations", 0, "s");
  check_extra_number(json::object(), "vdl_best_energy", "s");
  check_extra_object(json::object(), "last_validation", "s");
}
