#include "support/testing.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace sparseloop::test_support {

double gradcheck_error(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                       const torch::Tensor& x0, double h, int64_t max_coords) {
  TORCH_CHECK(x0.scalar_type() == torch::kDouble, "gradcheck_error needs float64");
  auto x = x0.detach().clone().requires_grad_(true);
  auto y = f(x);
  auto grad = torch::autograd::grad({y}, {x})[0].reshape(-1);
  auto flat = x0.detach().clone().reshape(-1);
  const int64_t n = flat.numel();
  std::vector<int64_t> coords;
  if (n <= max_coords) {
    for (int64_t i = 0; i < n; ++i) coords.push_back(i);
  } else {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int64_t> pick(0, n - 1);
    for (int64_t i = 0; i < max_coords; ++i) coords.push_back(pick(rng));
  }
  double worst = 0.0, scale = 1e-12;
  torch::NoGradGuard no_grad;
  for (int64_t i : coords) {
    auto xp = flat.clone();
    auto xm = flat.clone();
    xp[i] += h;
    xm[i] -= h;
    const double fp = f(xp.reshape(x0.sizes())).item<double>();
    const double fm = f(xm.reshape(x0.sizes())).item<double>();
    const double numeric = (fp - fm) / (2 * h);
    const double analytic = grad[i].item<double>();
    worst = std::max(worst, std::abs(numeric - analytic));
    scale = std::max(scale, std::abs(analytic));
  }
  return worst / scale;
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = (std::filesystem::temp_directory_path() /
           ("sparseloop-test-" + std::to_string(rd()) + std::to_string(rd())))
              .string();
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult run_cli(const std::string& args) {
  TempDir dir;
  const std::string out = dir.file("stdout"), err = dir.file("stderr");
  const std::string cmd =
      std::string(SPARSELOOP_CLI_PATH) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace sparseloop::test_support

