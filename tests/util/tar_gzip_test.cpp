// The tar reader and gzip helpers on archives the test builds.
#include <gtest/gtest.h>

#include "support/data_files.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/gzip.h"
#include "sparseloop/util/tar.h"

using namespace sparseloop;
namespace td = sparseloop::test_data;

TEST(Tar, ReadsUstarEntries) {
  const std::string big(1300, 'q');
  const auto bytes =
      td::tar({{"package/a.json", "{\"x\": 1}"}, {"package/big.bin", big}, {"package/empty", ""}});
  const auto entries = read_tar(bytes, "t.tar");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "package/a.json");
  EXPECT_EQ(entries[0].data, "{\"x\": 1}");
  ASSERT_NE(find_tar_entry(entries, "package/big.bin"), nullptr);
  EXPECT_EQ(find_tar_entry(entries, "package/big.bin")->data, big);
  EXPECT_EQ(find_tar_entry(entries, "package/empty")->data, "");
  EXPECT_EQ(find_tar_entry(entries, "package/none"), nullptr);
}

TEST(Tar, RejectsCorruptArchives) {
  const auto good = td::tar({{"package/a", std::string(700, 'a')}, {"package/b", "b"}});
  auto expect = [](const std::string& bytes, const std::string& text) {
    try {
      read_tar(bytes, "x.tgz");
      ADD_FAILURE() << "no InputError for " << text;
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("x.tgz"), std::string::npos) << what;
      EXPECT_NE(what.find(text), std::string::npos) << what;
    }
  };
  std::string bad = good;
  bad[3] = 'X';  // name byte: the checksum no longer matches
  expect(bad, "checksum");
  bad = good;
  bad.replace(257, 5, "xxxxx");
  expect(bad, "checksum");  // the magic is covered by the checksum too
  expect(good.substr(0, 900), "truncated");
  expect(good.substr(0, 512 * 3 + 100), "truncated");
  expect(std::string(512, 'z'), "tar header");
}

TEST(Gzip, RoundTripsAndRejectsCorruption) {
  const std::string text(100000, 'a');
  const std::string gz = gzip(text);
  EXPECT_TRUE(is_gzip(gz));
  EXPECT_LT(gz.size(), text.size() / 10);
  EXPECT_EQ(gunzip(gz, "m.gz"), text);
  EXPECT_EQ(gunzip(gz + gzip("bc"), "m.gz"), text + "bc");  // concatenated members
  EXPECT_THROW(gunzip(gz.substr(0, gz.size() / 2), "m.gz"), InputError);
  std::string corrupt = gz;
  corrupt[gz.size() / 2] ^= 0x55;
  corrupt[gz.size() - 6] ^= 0x55;  // and the CRC
  EXPECT_THROW(gunzip(corrupt, "m.gz"), InputError);
  EXPECT_THROW(gunzip("plain", "m.gz"), InputError);
}
