// NumPy .npy files (io/npy.h), written byte for byte by the tests.
#include "sparseloop/io/npy.h"

#include <gtest/gtest.h>

#include "sparseloop/util/error.h"
#include "support/data_files.h"
#include "support/testing.h"

using namespace sparseloop;
namespace td = sparseloop::test_data;

namespace {

std::string le_bytes(const void* p, size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

}  // namespace

TEST(Npy, ReadsEverySupportedDtype) {
  ts::TempDir dir;
  const uint8_t u8[] = {1, 2, 255, 0, 7, 9};
  td::write_bytes(dir.file("u1.npy"), td::npy("|u1", "(2, 3)", le_bytes(u8, 6)));
  auto t = read_npy(dir.file("u1.npy"));
  EXPECT_EQ(t.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(t, torch::tensor({1, 2, 255, 0, 7, 9}, torch::kUInt8).reshape({2, 3})));
  const int64_t i8[] = {-5, 1LL << 40, 3};
  td::write_bytes(dir.file("i8.npy"), td::npy("<i8", "(3,)", le_bytes(i8, sizeof(i8))));
  EXPECT_TRUE(torch::equal(read_npy(dir.file("i8.npy")),
                           torch::tensor(std::vector<int64_t>{-5, int64_t{1} << 40, 3})));
  const int32_t i4[] = {-1, 2};
  td::write_bytes(dir.file("i4.npy"), td::npy("<i4", "(2,)", le_bytes(i4, sizeof(i4))));
  EXPECT_TRUE(torch::equal(read_npy(dir.file("i4.npy")), torch::tensor({-1, 2}, torch::kInt)));
  const float f4[] = {0.5f, -2.25f, 3.0f, 4.0f};
  td::write_bytes(dir.file("f4.npy"), td::npy("<f4", "(2, 1, 2)", le_bytes(f4, sizeof(f4))));
  auto f = read_npy(dir.file("f4.npy"));
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{2, 1, 2}));
  EXPECT_EQ(f[0][0][1].item<float>(), -2.25f);
  const double f8[] = {1e300};
  td::write_bytes(dir.file("f8.npy"), td::npy("<f8", "()", le_bytes(f8, 8)));
  auto s = read_npy(dir.file("f8.npy"));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 1e300);
  td::write_bytes(dir.file("rows.npy"), td::npy("<i4", "(2,)", le_bytes(i4, sizeof(i4))));
  EXPECT_EQ(read_npy_rows(dir.file("rows.npy"), 1, 1).item<int>(), 2);
  td::write_bytes(dir.file("empty.npy"), td::npy("<f4", "(0, 3)", ""));
  EXPECT_EQ(read_npy(dir.file("empty.npy")).sizes(), (std::vector<int64_t>{0, 3}));
}

TEST(Npy, RejectsBadHeadersNamingTheFile) {
  ts::TempDir dir;
  const std::string p = dir.file("bad.npy");
  const float f4[] = {1, 2};
  auto check = [&](const std::string& bytes, const std::string& expect) {
    td::write_bytes(p, bytes);
    auto what = ts::expect_input_error([&] { read_npy(p); });
    EXPECT_NE(what.find(p), std::string::npos) << what;
    EXPECT_NE(what.find(expect), std::string::npos) << what;
  };
  check("not numpy at all", "\\x93NUMPY");
  check(td::npy("<f4", "(2,)", le_bytes(f4, 4)), "truncated");
  check(td::npy("<f4", "(2,)", le_bytes(f4, 8) + "x"), "size mismatch");
  check(td::npy(">f4", "(2,)", le_bytes(f4, 8)), "unsupported dtype '>f4'");
  check(td::npy("<c8", "(1,)", le_bytes(f4, 8)), "unsupported dtype");
  check(td::npy("<f4", "(2,)", le_bytes(f4, 8), true), "Fortran");
  check(td::npy("<f4", "[2]", le_bytes(f4, 8)), "bad .npy header");
  check(td::npy("<f4", "(2,", le_bytes(f4, 8)), "bad .npy header");
  std::string no_shape = td::npy("<f4", "(2,)", le_bytes(f4, 8));
  no_shape.replace(no_shape.find("'shape'"), 7, "'shope'");
  check(no_shape, "no 'shape' key");
  std::string huge_len = td::npy("<f4", "(2,)", le_bytes(f4, 8));
  huge_len[8] = '\xff';
  huge_len[9] = '\x7f';
  check(huge_len, "truncated .npy header");
  // Sizes past 2^63 bytes, also of empty arrays (LibTorch's own error otherwise).
  check(td::npy("<f4", "(0, 999999999999999999, 999999999999999999)", ""), "exceeds 2^63");
  check(td::npy("<f8", "(0, 300000000000000000, 64)", ""), "exceeds 2^63");
  std::string version = td::npy("<f4", "(2,)", le_bytes(f4, 8));
  version[6] = 9;
  check(version, "version 9");
}
