// Unpacking with the system tar, and reading gzip'd files through zlib's gz*
// interface, on archives and files the test builds.
#include <filesystem>

#include <gtest/gtest.h>

#include "support/data_files.h"
#include "support/testing.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/gzip.h"
#include "sparseloop/util/process.h"
#include "sparseloop/util/tar.h"

using namespace sparseloop;
namespace td = sparseloop::test_data;
namespace ts = sparseloop::test_support;

namespace {

// Expects an InputError whose text holds both `source` and `text`.
template <class F>
void expect_input_error(F f, const std::string& source, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no InputError for " << text;
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(source), std::string::npos) << what;
    EXPECT_NE(what.find(text), std::string::npos) << what;
  }
}

}  // namespace

TEST(Tar, ExtractsNamedMembersOfPlainAndGzipArchives) {
  ts::TempDir dir;
  const std::string big(1300, 'q');
  const auto bytes =
      td::tar({{"package/a.json", "{\"x\": 1}"}, {"package/big.bin", big}, {"package/empty", ""}});
  td::write_bytes(dir.file("p.tar"), bytes);
  td::write_gz(dir.file("p.tgz"), bytes);
  for (const char* name : {"p.tar", "p.tgz"}) {
    const auto got = read_tar_members(dir.file(name), dir.file(std::string("x-") + name),
                                      {"package/big.bin", "package/a.json", "package/empty"});
    ASSERT_EQ(got.size(), 3u) << name;
    EXPECT_EQ(got[0], big) << name;
    EXPECT_EQ(got[1], "{\"x\": 1}") << name;
    EXPECT_EQ(got[2], "") << name;
  }
}

TEST(Tar, NamesTheArchiveForMissingMembersGarbageAndSymlinks) {
  ts::TempDir dir;
  const std::string tgz = dir.file("p.tgz");
  td::write_gz(tgz, td::tar({{"package/a", "a"}}));
  expect_input_error([&] { read_tar_members(tgz, dir.file("x1"), {"package/b"}); }, tgz,
                     "no package/b");
  const std::string junk = dir.file("junk.tgz");
  td::write_bytes(junk, std::string(2000, 'z'));
  expect_input_error([&] { read_tar_members(junk, dir.file("x2"), {"package/a"}); }, junk,
                     "not a readable tar archive");
  expect_input_error([&] { read_tar_members(dir.file("none.tgz"), dir.file("x3"), {"a"}); },
                     "none.tgz", "no such file");
  // A member that is a symlink (to a file outside the archive) is refused, not followed.
  make_dirs(dir.file("src/package"));
  std::filesystem::create_symlink("/etc/hostname", dir.file("src/package/a"));
  ASSERT_EQ(run_process({"tar", "-cf", dir.file("link.tar"), "-C", dir.file("src"), "package/a"})
                .exit_code,
            0);
  expect_input_error([&] { read_tar_members(dir.file("link.tar"), dir.file("x4"), {"package/a"}); },
                     "link.tar", "not a regular file");
}

TEST(Gzip, ReadsGzipMembersAndPlainFilesAndRejectsDamage) {
  ts::TempDir dir;
  const std::string text(100000, 'a');
  td::write_gz(dir.file("m.gz"), text);
  td::write_gz(dir.file("b.gz"), "bc");
  const std::string gz = read_file(dir.file("m.gz"));
  EXPECT_LT(gz.size(), text.size() / 10);
  EXPECT_EQ(read_file_maybe_gzip(dir.file("m.gz")), text);
  td::write_bytes(dir.file("two.gz"), gz + read_file(dir.file("b.gz")));  // concatenated members
  EXPECT_EQ(read_file_maybe_gzip(dir.file("two.gz")), text + "bc");
  td::write_bytes(dir.file("plain"), "plain bytes");  // judged by content: read as is
  EXPECT_EQ(read_file_maybe_gzip(dir.file("plain")), "plain bytes");

  td::write_bytes(dir.file("half.gz"), gz.substr(0, gz.size() / 2));
  expect_input_error([&] { read_file_maybe_gzip(dir.file("half.gz")); }, "half.gz", "truncated");
  std::string corrupt = gz;
  corrupt[gz.size() - 6] ^= 0x55;  // the CRC of the data
  td::write_bytes(dir.file("bad.gz"), corrupt);
  expect_input_error([&] { read_file_maybe_gzip(dir.file("bad.gz")); }, "bad.gz", "corrupt");
  expect_input_error([&] { read_file_maybe_gzip(dir.file("none.gz")); }, "none.gz",
                     "no such file");
}
