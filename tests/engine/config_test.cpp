#include "sparseloop/engine/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

/// A family config of every field type the visitors handle.
struct TestConfig {
  double lr = 2e-4;
  std::string classes;
  bool nonnegative = false;
  int64_t strategy = 2;
  template <class V>
  void visit(V& v) {
    v("lr", lr, "learning rate");
    v("classes", classes, "classes");
    v("nonnegative", nonnegative, "non-negative codes");
    v("strategy", strategy, "strategy");
  }
};

}  // namespace

TEST(Config, ResolvedTomlRoundTripsThroughTheSavedFile) {
  ts::TempDir dir;
  CommonTrainConfig common;
  common.model = "csc-ctrl";
  common.out = dir.path() + "/run \"quoted\"";
  common.max_steps = 123;
  common.seed = 18446744073709551615ull;
  common.resume = true;
  common.precision = Precision::kBf16;
  TestConfig cfg;
  cfg.lr = 3.25e-4;
  cfg.classes = "0,1,2";
  cfg.nonnegative = true;
  write_file_atomic(dir.file("config.toml"), resolved_config_toml(common, "ctrl", cfg));
  CommonTrainConfig c2;
  TestConfig f2;
  read_run_config(dir.path(), c2, f2);
  EXPECT_EQ(c2.model, "csc-ctrl");
  EXPECT_EQ(c2.out, common.out);
  EXPECT_EQ(c2.max_steps, 123);
  EXPECT_EQ(c2.seed, common.seed);
  EXPECT_TRUE(c2.resume);
  EXPECT_EQ(c2.precision, Precision::kBf16);
  EXPECT_DOUBLE_EQ(f2.lr, 3.25e-4);
  EXPECT_EQ(f2.classes, "0,1,2");
  EXPECT_TRUE(f2.nonnegative);
}

// Every string a flag can carry comes back from config.toml byte for byte
// (the file a --resume reads), however hostile: control characters (a raw \r
// or tab once made the file unreadable), quotes, backslashes, TOML's own
// delimiters, a leading newline (trimmed by multi-line strings) and UTF-8.
TEST(Config, HostileStringsRoundTripThroughConfigToml) {
  std::string controls;
  for (int c = 1; c < 0x20; ++c) controls += static_cast<char>(c);
  controls += '\x7f';
  const std::vector<std::string> values = {
      "",
      "a\rb",
      "tab\there",
      "\nleading newline",
      "trailing newline\n",
      "crlf\r\n",
      controls,
      "\"double\" 'single' \"\"\" ''' `back`",
      "back\\slash \\n \\u0041 \\",
      "# not a comment = [section] {x = 1}",
      "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xe2\x80\xa8 \xef\xbb\xbf",
  };
  for (const auto& value : values) {
    ts::TempDir dir;
    CommonTrainConfig common;
    common.out = dir.path() + "/" + value;
    common.data_dir = value;
    TestConfig cfg;
    cfg.classes = value;
    write_file_atomic(dir.file("config.toml"), resolved_config_toml(common, "ctrl", cfg));
    CommonTrainConfig c2;
    TestConfig f2;
    ASSERT_NO_THROW(read_run_config(dir.path(), c2, f2)) << read_file(dir.file("config.toml"));
    EXPECT_EQ(c2.out, common.out);
    EXPECT_EQ(c2.data_dir, value);
    EXPECT_EQ(f2.classes, value);
  }
  // Bytes that are not UTF-8 cannot be TOML text: refused when written,
  // naming the flag, rather than when the run is resumed.
  TestConfig bad;
  bad.classes = "latin-1 \xe9t\xe9";
  try {
    resolved_config_toml(CommonTrainConfig{}, "ctrl", bad);
    FAIL() << "wrote a value that is not UTF-8";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--classes"), std::string::npos) << e.what();
  }
}

TEST(Config, BadValuesNameTheSourceAndKey) {
  TestConfig cfg;
  ValuesReader r({{"lr", "fast"}}, "my.toml");
  try {
    cfg.visit(r);
    FAIL() << "accepted lr = fast";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("my.toml"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("lr"), std::string::npos);
  }
  ValuesReader r2({{"nonnegative", "maybe"}}, "x");
  EXPECT_THROW(cfg.visit(r2), InputError);
  CommonTrainConfig common;
  ValuesReader r3({{"seed", "-3"}}, "x");
  EXPECT_THROW(common.visit(r3), InputError);
  ValuesReader r4({{"strategy", "1"}, {"unknown-key", "1"}}, "x");
  cfg.visit(r4);
  EXPECT_EQ(cfg.strategy, 1);
  EXPECT_EQ(r4.unused(), std::vector<std::string>{"unknown-key"});
}

TEST(Config, ReadsSectionsAndRejectsBrokenToml) {
  ts::TempDir dir;
  {
    std::ofstream f(dir.file("a.toml"));
    f << "model = \"ctrl\"\nmax_steps = 5\n[ctrl]\nlr = 0.001\nflag = true\n";
  }
  auto v = read_config_file(dir.file("a.toml"));
  EXPECT_EQ(v["model"], "ctrl");
  EXPECT_EQ(v["max-steps"], "5");  // underscores become the flag's dashes
  EXPECT_EQ(std::stod(v["lr"]), 0.001);
  EXPECT_EQ(v["flag"], "true");
  {
    std::ofstream f(dir.file("b.toml"));
    f << "model = \n";
  }
  try {
    read_config_file(dir.file("b.toml"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("b.toml"), std::string::npos);
  }
  EXPECT_THROW(read_config_file(dir.file("missing.toml")), InputError);
}

namespace {

// Found by the fuzz target toml_config (docs/reliability.md): toml++ 3.3.0
// asserts on a table header such as `[|]` in builds with assertions; the
// shipped build must report it as invalid TOML naming the file and line. A
// missing file is named as missing, not as invalid TOML.
TEST(Config, InvalidTableHeaderAndMissingFileAreInputErrors) {
  ts::TempDir dir;
  std::ofstream(dir.file("bad.toml")) << "max-steps = 3\n[|]\nx = 1\n";
  std::string m = ts::expect_input_error([&] { read_config_file(dir.file("bad.toml")); });
  EXPECT_NE(m.find("bad.toml: not valid TOML"), std::string::npos) << m;
  EXPECT_NE(m.find("line 2"), std::string::npos) << m;
  m = ts::expect_input_error([&] { read_config_file(dir.file("missing.toml")); });
  EXPECT_NE(m.find("missing.toml: no such file"), std::string::npos) << m;
  // A non-ASCII character right after a bare key took toml++ 3.3.0 into
  // __builtin_unreachable (UBSan); refused before toml++ sees it. In strings
  // and comments, where TOML allows it, it is read as before.
  std::ofstream(dir.file("key.toml")) << "a = 1\nmaout\xca\x8b\n";
  m = ts::expect_input_error([&] { read_config_file(dir.file("key.toml")); });
  EXPECT_NE(m.find("non-ASCII character outside a string or comment at line 2"),
            std::string::npos)
      << m;
  std::ofstream(dir.file("ok.toml")) << "# caf\xc3\xa9\nout = \"caf\xc3\xa9 #\"\n"
                                     << "preset = '''\nx\xc3\xa9'''\n";
  const auto v = read_config_file(dir.file("ok.toml"));
  EXPECT_EQ(v.at("out"), "caf\xc3\xa9 #");
  EXPECT_EQ(v.at("preset"), "x\xc3\xa9");
}

// The flags every run has are range-checked before anything runs.
TEST(Config, CommonFlagsOutOfRangeNameTheFlag) {
  auto check = [](const char* flag, auto set) {
    CommonTrainConfig c;
    set(c);
    const std::string m = ts::expect_input_error([&] { check_common_ranges(c); });
    EXPECT_EQ(m.rfind(std::string("--") + flag + " ", 0), 0u) << m;
  };
  check("threads", [](CommonTrainConfig& c) { c.threads = -1; });
  check("epochs", [](CommonTrainConfig& c) { c.epochs = -1; });
  check("max-steps", [](CommonTrainConfig& c) { c.max_steps = -5; });
  check("keep-checkpoints", [](CommonTrainConfig& c) { c.keep_checkpoints = 0; });
  check("time-limit", [](CommonTrainConfig& c) { c.time_limit = -1; });
  check("time-limit", [](CommonTrainConfig& c) { c.time_limit = std::nan(""); });
  check("dist-timeout", [](CommonTrainConfig& c) { c.dist_timeout = 0; });
  check_common_ranges(CommonTrainConfig{});  // the defaults are in range
}

}  // namespace
