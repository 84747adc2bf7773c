#include "support/testing.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

// The library only encodes PNG; the tests decode with their own private copy
// of stb_image (static functions, so it cannot clash with the library's).
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "sparseloop/sparseloop.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/signals.h"

namespace sparseloop::test_support {

namespace {
// Every test sees the built-in families, as the program does.
const bool families_registered = (register_builtin_families(), true);
}  // namespace

torch::Tensor decode_png(const std::string& bytes) {
  int w = 0, h = 0, c = 0;
  unsigned char* data = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                              static_cast<int>(bytes.size()), &w, &h, &c, 0);
  if (data == nullptr)
    throw std::runtime_error(std::string("decode failed: ") + stbi_failure_reason());
  auto t = torch::from_blob(data, {h, w, c}, torch::kByte).permute({2, 0, 1}).clone();  // (C, H, W)
  stbi_image_free(data);
  return t;
}

double relative_error(const torch::Tensor& a, const torch::Tensor& ref) {
  const auto r = ref.to(torch::kDouble);
  return ((a.to(torch::kDouble) - r).norm() / r.norm().clamp_min(1e-300)).item<double>();
}

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

namespace {

std::string step_folder(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

}  // namespace

void copy_run_killed_after(const std::string& from, const std::string& to, int64_t step) {
  namespace fs = std::filesystem;
  fs::copy(from, to, fs::copy_options::recursive);
  for (const auto& e : fs::directory_iterator(to + "/checkpoints")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step-", 0) == 0 && name > step_folder(step)) fs::remove_all(e.path());
  }
  fs::remove(to + "/model.safetensors");
}

void expect_same_run_files(const std::string& reference, const std::string& run) {
  std::vector<std::string> files = {"model.safetensors", "checkpoints/best/model.safetensors",
                                    "checkpoints/best/state.json"};
  for (const auto& e : std::filesystem::directory_iterator(reference + "/checkpoints")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step-", 0) != 0) continue;
    for (const char* f : {"model.safetensors", "state.json"})
      files.push_back("checkpoints/" + name + "/" + f);
  }
  EXPECT_GT(files.size(), 3u) << reference << " kept no step-* checkpoint";
  for (const auto& f : files) {
    const std::string a = reference + "/" + f, b = run + "/" + f;
    ASSERT_TRUE(std::filesystem::exists(a)) << a;
    ASSERT_TRUE(std::filesystem::exists(b)) << b;
    EXPECT_TRUE(read_file(a) == read_file(b)) << b << " differs from " << a;
  }
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

pid_t spawn_cli(const std::vector<std::string>& args, const std::string& out,
                const std::string& err, void (*in_child)()) {
  std::vector<std::string> all = {SPARSELOOP_CLI_PATH};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) ::_exit(126);
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (in_child) in_child();
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0) ADD_FAILURE() << "fork failed";
  return pid;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<std::string> split_args(const std::string& args) {
  std::vector<std::string> out;
  std::istringstream in(args);
  std::string a;
  while (in >> a) out.push_back(a);
  return out;
}

struct SignalStateGuard::Saved {
  struct sigaction int_ {};
  struct sigaction term_ {};
};

SignalStateGuard::SignalStateGuard() : saved_(std::make_unique<Saved>()) {
  sigaction(SIGINT, nullptr, &saved_->int_);
  sigaction(SIGTERM, nullptr, &saved_->term_);
  reset_stop_signal();
}

SignalStateGuard::~SignalStateGuard() {
  reset_stop_signal();
  sigaction(SIGINT, &saved_->int_, nullptr);
  sigaction(SIGTERM, &saved_->term_, nullptr);
}

}  // namespace sparseloop::test_support
