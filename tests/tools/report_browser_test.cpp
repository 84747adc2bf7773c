// report.html in a real browser: Debian's headless Chromium opens the
// report of a tiny run of each family, with every host name unresolvable,
// and a probe script (added to a copy of the file) reports that every image
// decoded with a non-zero natural size and that nothing but data: URIs was
// requested; a screenshot is taken. Skipped where Chromium is absent
// (scripts/setup.sh installs chromium-headless-shell).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "sparseloop/util/fs.h"
#include "support/digits_suite.h"
#include "support/testing.h"

using namespace sparseloop;
namespace fs = std::filesystem;
namespace td = sparseloop::test_data;

namespace {

const char* kBrowser = "/usr/bin/chromium-headless-shell";

// Appended before </body>: the page's verdict, read back from --dump-dom.
const char* kProbe = R"(<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0 ||
                                                 i.naturalHeight === 0; }).length;
  var requests = performance.getEntriesByType('resource').map(function (r) { return r.name; })
      .filter(function (n) { return n.indexOf('data:') !== 0; });
  var out = document.createElement('pre');
  out.textContent = 'PROBE images=' + imgs.length + ' broken=' + broken +
                    ' requests=' + requests.length + ' ' + JSON.stringify(requests);
  document.body.appendChild(out);
});
</script>)";

class ReportInBrowser : public ::testing::TestWithParam<std::pair<std::string, std::string>> {
 protected:
  static void SetUpTestSuite() { dir_ = td::digits_suite_folder(); }
  static void TearDownTestSuite() { delete dir_; }
  static ts::TempDir* dir_;
};
ts::TempDir* ReportInBrowser::dir_ = nullptr;

std::string run_browser(const std::string& flags, const std::string& url, const std::string& out) {
  const std::string cmd = std::string("timeout 120 ") + kBrowser +
                          " --no-sandbox --disable-gpu --disable-dev-shm-usage"
                          " --host-resolver-rules='MAP * ~NOTFOUND' " +
                          flags + " " + url + " >" + out + " 2>/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return read_file(out);
}

}  // namespace

TEST_P(ReportInBrowser, EveryFigureLoadsAndNothingIsFetched) {
  if (!fs::exists(kBrowser)) GTEST_SKIP() << kBrowser << " is not installed";
  // A machine where Chromium cannot start at all (no shared memory, no
  // namespaces) is not a report defect: skip, saying so.
  const std::string blank = dir_->file("blank.dom");
  const std::string pre = std::string("timeout 60 ") + kBrowser +
                          " --no-sandbox --disable-gpu --disable-dev-shm-usage --dump-dom "
                          "'data:text/html,<p>ok</p>' >" + blank + " 2>/dev/null";
  if (std::system(pre.c_str()) != 0 || read_file(blank).find("<p>ok</p>") == std::string::npos)
    GTEST_SKIP() << kBrowser << " cannot start on this machine";
  const auto& [name, args] = GetParam();
  const std::string run = dir_->file(name);
  auto r = ts::run_cli("train " + args + " --data mnist --data-dir " + dir_->file("digits") +
                       " --out " + run + " --threads 1 --seed 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = ts::run_cli("report --run " + run + " --data-dir " + dir_->file("digits"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = read_file(run + "/report.html");

  // The probe runs on a copy: the report itself stays as written.
  std::string probed = html;
  const auto body = probed.rfind("</body>");
  ASSERT_NE(body, std::string::npos);
  probed.insert(body, kProbe);
  const std::string copy = dir_->file(name + "-probe.html");
  write_file_atomic(copy, probed);
  const std::string dom = run_browser("--virtual-time-budget=10000 --dump-dom", "file://" + copy,
                                      dir_->file(name + ".dom"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("PROBE images=(\\d+) broken=(\\d+) requests=(\\d+)")))
      << dom.substr(0, 400);
  EXPECT_GE(std::stoi(m[1]), 2) << "figures in the report";
  EXPECT_EQ(std::stoi(m[2]), 0) << "broken images";
  EXPECT_EQ(std::stoi(m[3]), 0) << "requests beyond data: URIs: " << dom.substr(m.position(0), 300);

  const std::string shot = dir_->file(name + ".png");
  run_browser("--window-size=1000,1400 --screenshot=" + shot, "file://" + run + "/report.html",
              dir_->file(name + ".out"));
  ASSERT_TRUE(fs::exists(shot));
  const auto pixels = ts::decode_png(read_file(shot));  // (C, H, W)
  EXPECT_EQ(pixels.size(1), 1400);
  EXPECT_GT(pixels.to(torch::kFloat).std().item<double>(), 5.0) << "a blank screenshot";
}

INSTANTIATE_TEST_SUITE_P(
    Families, ReportInBrowser,
    ::testing::Values(
        std::make_pair(std::string("csc_ctrl"),
                       std::string("--preset mnist-csc-ctrl --width 4 --batch-size 16 --max-steps 2 "
                                   "--eval-every 2 --val-size 20 --classifier-epochs 1")),
        std::make_pair(std::string("sdnet"),
                       std::string("--model sdnet18 --width 4 --batch-size 12 --max-steps 2 "
                                   "--test-limit 12")),
        std::make_pair(std::string("vdl"),
                       std::string("--preset mnist-vdl --batch-size 20 --max-steps 2 "
                                   "--train-limit 60"))),
    [](const auto& info) { return info.param.first; });
