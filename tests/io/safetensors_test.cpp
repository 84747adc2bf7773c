#include "sparseloop/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

std::string with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json + data;
}

void expect_rejected(const std::string& bytes, const std::string& needle) {
  try {
    parse_safetensors(bytes, "bad.safetensors");
    ADD_FAILURE() << "accepted a malformed file (expected: " << needle << ")";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Safetensors, RoundTripKeepsDtypesShapesValuesAndMetadata) {
  ts::TempDir dir;
  auto a = torch::randn({3, 4});
  auto b = torch::randn({2, 1, 5}, torch::kDouble);
  auto c = torch::arange(7, torch::kLong);
  auto d = torch::zeros({0, 3});
  auto e = torch::tensor({true, false, true});
  auto h = torch::randn({4}).to(torch::kHalf);
  save_safetensors(dir.file("t.safetensors"),
                   {{"a", a}, {"b", b}, {"c", c}, {"empty", d}, {"flags", e}, {"half", h}},
                   {{"format", "pt"}});
  auto f = load_safetensors(dir.file("t.safetensors"));
  EXPECT_TRUE(torch::equal(f.get("a"), a));
  EXPECT_TRUE(torch::equal(f.get("b"), b));
  EXPECT_TRUE(torch::equal(f.get("c"), c));
  EXPECT_EQ(f.get("empty").sizes(), d.sizes());
  EXPECT_TRUE(torch::equal(f.get("flags"), e));
  EXPECT_TRUE(torch::equal(f.get("half"), h));
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.tensors[0].first, "a");  // file order
  EXPECT_THROW(f.get("missing"), InputError);
  // Non-contiguous input is written as its logical values.
  save_safetensors(dir.file("t2.safetensors"), {{"t", a.t()}});
  EXPECT_TRUE(torch::equal(load_safetensors(dir.file("t2.safetensors")).get("t"), a.t()));
}

TEST(Safetensors, ReadsAHandWrittenFile) {
  // Two F32 values 1.0 and 2.0, as any safetensors writer lays them out.
  float v[2] = {1.0f, 2.0f};
  std::string data(reinterpret_cast<char*>(v), 8);
  auto f = parse_safetensors(
      with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data), "ok");
  EXPECT_TRUE(torch::equal(f.get("x"), torch::tensor({1.0f, 2.0f})));
}

TEST(Safetensors, RejectsMalformedFiles) {
  std::string eight(8, 'x');
  expect_rejected("abc", "truncated");
  {
    std::string bytes(8, '\0');
    bytes[0] = 100;  // header length 100, file has nothing after
    expect_rejected(bytes, "exceeds the file size");
  }
  {
    std::string bytes(8, '\xff');
    expect_rejected(bytes + "{}", "implausibly large");
  }
  expect_rejected(with_header("[1,2]", ""), "not a JSON object");
  expect_rejected(with_header("{not json", ""), "not JSON");
  expect_rejected(with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", eight),
                  "past the data section");
  expect_rejected(with_header(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight),
                  "shape and dtype need");
  expect_rejected(with_header(R"({"x":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", eight),
                  "unsupported dtype");
  expect_rejected(with_header(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
                  "negative");
  expect_rejected(with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight),
                  "reversed");
  expect_rejected(with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                              eight),
                  "overlaps");
  expect_rejected(with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight),
                  "gap");
  expect_rejected(with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight),
                  "unreferenced");
  expect_rejected(with_header(R"({"x":{"dtype":"F32","shape":[2]}})", eight), "lacks");
  expect_rejected(with_header(R"({"x":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", "\x07"),
                  "BOOL");
  expect_rejected(with_header(R"({"__metadata__":{"a":1}})", ""), "not a string");
}

// Shapes whose size passes 2^63 bytes are input errors, also when a zero
// dimension makes the tensor empty (LibTorch itself would throw c10::Error on
// its strides or storage size, which the program reports as an internal error).
TEST(Safetensors, ShapesPastTwoToTheSixtyThreeAreInputErrors) {
  const std::vector<std::string> shapes = {
      "[0, 9223372036854775808]",          // one dimension past int64
      "[9223372036854775808, 0]",
      "[4294967296, 4294967296, 4]",       // 2^66 elements
      "[0, 4294967296, 4294967296, 4]",    // empty, but its strides overflow
      "[0, 4611686018427387904, 2]",       // 2^63 elements
      "[1152921504606846976, 2]",          // 2^61 elements of 4 bytes: 2^63 bytes
      "[18446744073709551615]",            // 2^64 − 1
  };
  for (const auto& shape : shapes)
    expect_rejected(with_header(R"({"x":{"dtype":"F32","shape":)" + shape +
                                    R"(,"data_offsets":[0,0]}})",
                                ""),
                    "overflows");
  // Large but representable empty shapes still load.
  auto f = parse_safetensors(
      with_header(R"({"x":{"dtype":"F32","shape":[0, 1073741824],"data_offsets":[0,0]}})", ""),
      "ok");
  EXPECT_EQ(f.get("x").sizes().vec(), (std::vector<int64_t>{0, 1073741824}));
}

TEST(Safetensors, TruncatedFileOnDiskNamesTheFile) {
  ts::TempDir dir;
  save_safetensors(dir.file("w.safetensors"), {{"w", torch::randn({10, 10})}});
  auto bytes = read_file(dir.file("w.safetensors"));
  write_file_atomic(dir.file("cut.safetensors"), bytes.substr(0, bytes.size() - 17));
  try {
    load_safetensors(dir.file("cut.safetensors"));
    FAIL() << "accepted a truncated file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.safetensors"), std::string::npos);
  }
  EXPECT_THROW(load_safetensors(dir.file("nope.safetensors")), InputError);
}

// Fuzz: every truncation and many single-byte corruptions either load or
// throw InputError; nothing crashes.
TEST(Safetensors, CorruptionsNeverCrash) {
  auto bytes = serialize_safetensors({{"a", torch::randn({3, 3})}, {"b", torch::arange(4)}});
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_THROW(parse_safetensors(bytes.substr(0, cut), "f"), InputError);
  }
  std::mt19937 rng(0);
  for (int i = 0; i < 2000; ++i) {
    std::string b = bytes;
    b[rng() % b.size()] = static_cast<char>(rng() & 0xff);
    try {
      parse_safetensors(b, "f");
    } catch (const InputError&) {
    }
  }
}
