// The guard between TOML text and toml++ 3.3.0 (engine/toml_text.h): the
// inputs that took toml++ into __builtin_unreachable (found by the fuzz
// target toml_config, docs/reliability.md) are read or refused with an
// InputError, and every character a string or quoted key holds comes back as
// written. Undefined behaviour itself is caught by the fuzz build (UBSan);
// these tests pin the results.
#include <gtest/gtest.h>

#include <algorithm>
#include <codecvt>
#include <fstream>
#include <locale>

#include "sparseloop/engine/config.h"
#include "sparseloop/engine/toml_text.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

// The standard library's UTF-8 encoder, not a copy of the one under test
// (engine/toml_text.cpp writes its stand-ins back with its own): deprecated
// since C++17 but present in every libstdc++ the project builds with.
std::string utf8(char32_t c) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  std::wstring_convert<std::codecvt_utf8<char32_t>, char32_t> convert;
  return convert.to_bytes(c);
#pragma GCC diagnostic pop
}

std::string string_value(const toml::table& t, const char* key) {
  const auto* s = t[key].as_string();
  return s ? toml_text_as_written(s->get()) : "<not a string>";
}

}  // namespace

// The code points toml++'s whitespace test leaves undefined, at the edges of
// each range (computed from its bitmask; U+00A0, U+3000 and U+FEFF are
// whitespace it does answer for).
TEST(TomlText, UndefinedWhitespaceCheckRanges) {
  for (char32_t c : {0x9Fu, 0xA0u, 0x49Au, 0x2C5Du, 0x3000u, 0x3058u, 0xFB25u, 0xFEFFu, 0x2000u,
                     0x1680u, 0xF00E9u})
    EXPECT_FALSE(toml_whitespace_check_is_undefined(c)) << std::hex << uint32_t{c};
  for (char32_t c : {0xA1u, 0xE9u, 0x28Bu, 0x499u, 0x2C5Eu, 0x2FFFu, 0x3001u, 0x3057u, 0xFB26u,
                     0xFEFEu})
    EXPECT_TRUE(toml_whitespace_check_is_undefined(c)) << std::hex << uint32_t{c};
}

// Inputs of the fuzz run and the places toml++ tests a character for
// whitespace: each is refused as invalid TOML naming the source and line.
TEST(TomlText, InputsThatReachedUnreachableAreInputErrors) {
  const std::string cases[] = {
      "seed = 347617VV'''V\xca\x8b\n",      // the fuzz finding: quotes where no string is
      "a = 1\nmaout\xca\x8b\n",             // a letter right after a bare key
      "x = 12\xc3\xa9\n",                   // inside a number
      "x = tru\xc3\xa9\n",                  // inside a boolean
      "s = \"\"\"\\\xc3\xa9\"\"\"\n",       // a backslash before it in a multi-line string
      "[a\xe3\x80\x81]\n",                  // U+3001 in a table header
  };
  for (const auto& text : cases) {
    const std::string m = ts::expect_input_error([&] { parse_toml(text, "c.toml"); });
    EXPECT_EQ(m.rfind("c.toml: not valid TOML (", 0), 0u) << m;
    EXPECT_NE(m.find("at line"), std::string::npos) << m;
  }
}

// Where TOML allows non-ASCII text (strings, quoted keys, comments), every
// character toml++ would have tested comes back as written; quoted keys and
// multi-line strings after a line-ending backslash are where toml++ tested it.
TEST(TomlText, StringsAndQuotedKeysKeepEveryCharacter) {
  std::string all;
  for (char32_t c = 0xA0; c <= 0xFEFF; ++c)
    if (toml_whitespace_check_is_undefined(c)) all += utf8(c);
  ASSERT_GT(all.size(), 1000u);
  const std::string text = "# caf\xc3\xa9\n"
                           "\"k\xc3\xa9y\" = \"" + all + "\"\n"
                           "lit = '" + all + "'\n"
                           "multi = \"\"\"a\\\n   \xc3\xa9\xca\x8b\"\"\"\n"
                           "[\"t\xc3\xa9\"]\nx = [\"\xef\xac\xa6\"]\n";
  const toml::table t = parse_toml(text, "c.toml");
  std::vector<std::string> keys;
  for (const auto& [k, v] : t) keys.push_back(toml_text_as_written(std::string(k.str())));
  EXPECT_NE(std::find(keys.begin(), keys.end(), "k\xc3\xa9y"), keys.end());
  EXPECT_NE(std::find(keys.begin(), keys.end(), "t\xc3\xa9"), keys.end());
  for (const auto& [k, v] : t) {
    if (toml_text_as_written(std::string(k.str())) == "k\xc3\xa9y") {
      EXPECT_EQ(toml_text_as_written(v.as_string()->get()), all);
    }
  }
  EXPECT_EQ(string_value(t, "lit"), all);
  EXPECT_EQ(string_value(t, "multi"), "a\xc3\xa9\xca\x8b");
  // Through read_config_file, as a --config file and a run's config.toml are read.
  ts::TempDir dir;
  std::ofstream(dir.file("c.toml")) << "out = \"runs/caf\xc3\xa9-\xe3\x80\x81\"\n"
                                    << "[vdl]\n\"st\xc3\xa9p\" = '\xca\x8b'\n";
  const auto v = read_config_file(dir.file("c.toml"));
  EXPECT_EQ(v.at("out"), "runs/caf\xc3\xa9-\xe3\x80\x81");
  EXPECT_EQ(v.at("st\xc3\xa9p"), "\xca\x8b");
}

// Text toml++ must not see: bytes that are not UTF-8, and the private-use
// code points the guard uses as stand-ins.
TEST(TomlText, NonUtf8AndReservedCodePointsAreRefusedNamingTheLine) {
  std::string m = ts::expect_input_error([] { parse_toml("a = 1\nb = \"\xc3\x28\"\n", "c.toml"); });
  EXPECT_NE(m.find("not UTF-8 at line 2"), std::string::npos) << m;
  m = ts::expect_input_error([] { parse_toml("a = \"\xe0\x80\xaf\"\n", "c.toml"); });  // overlong
  EXPECT_NE(m.find("not UTF-8 at line 1"), std::string::npos) << m;
  m = ts::expect_input_error([&] { parse_toml("\n\na = \"" + utf8(0xF00E9) + "\"\n", "c.toml"); });
  EXPECT_NE(m.find("U+F00E9"), std::string::npos) << m;
  EXPECT_NE(m.find("line 3"), std::string::npos) << m;
  // Private-use characters outside the stand-ins' range are ordinary text.
  EXPECT_EQ(string_value(parse_toml("a = \"" + utf8(0xF0041) + "\"\n", "c.toml"), "a"),
            utf8(0xF0041));
}
