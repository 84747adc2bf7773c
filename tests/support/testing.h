// Test helpers: float64 finite-difference gradient checks, temporary folders,
// running the CLI.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include <torch/torch.h>

#include <gtest/gtest.h>

#include "sparseloop/util/error.h"

namespace sparseloop::test_support {

/// Relative error between autograd's gradient of the scalar f(x) and central
/// finite differences (step h) at up to `max_coords` coordinates of x
/// (all when numel ≤ max_coords). x must be float64.
double gradcheck_error(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                       const torch::Tensor& x, double h = 1e-6, int64_t max_coords = 60);

/// ‖a − ref‖ / ‖ref‖, computed in float64 whatever the dtypes (0 when both
/// are zero).
double relative_error(const torch::Tensor& a, const torch::Tensor& ref);

/// A fresh empty folder under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// Decodes PNG bytes into (C, H, W) uint8 with the file's own channel count,
/// with the tests' own copy of stb_image (independent of the library's).
torch::Tensor decode_png(const std::string& bytes);

/// Runs the built `sparseloop` binary with `args` (shell-quoted by the caller).
CommandResult run_cli(const std::string& args);

/// The built `sparseloop` binary started as a child process (no shell):
/// stdout and stderr go to the files `out` and `err`; `in_child`, when
/// given, runs in the child just before exec (async-signal-safe calls only,
/// e.g. setrlimit). Returns the child's pid.
pid_t spawn_cli(const std::vector<std::string>& args, const std::string& out,
                const std::string& err, void (*in_child)() = nullptr);

/// Waits for `pid`: its exit code, or 128 + the signal that ended it (as a
/// shell reports it).
int wait_exit_code(pid_t pid);

/// Splits a command line on spaces (paths of TempDir have none).
std::vector<std::string> split_args(const std::string& args);

/// The message of the InputError that f() throws; a test failure (and "")
/// when it throws none.
template <typename F>
std::string expect_input_error(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

/// A run killed (SIGKILL) right after its checkpoint of step `step` was
/// written: run folder `from` copied to `to` without the later step-*
/// checkpoints and without the final weights.
void copy_run_killed_after(const std::string& from, const std::string& to, int64_t step);

/// A resumed run `run` ends as the uninterrupted run `reference` did, byte for
/// byte: the final model.safetensors, and model.safetensors and state.json of
/// best/ and of every step-* checkpoint the reference kept (`run` may hold
/// more, e.g. the one of a stop). Optimizer files are not compared: their
/// archives name parameters by address, which differs between processes.
void expect_same_run_files(const std::string& reference, const std::string& run);

/// Saves SIGINT/SIGTERM dispositions and clears the pending stop request;
/// restores both when destroyed (tests that raise signals at a training loop).
class SignalStateGuard {
 public:
  SignalStateGuard();
  ~SignalStateGuard();

 private:
  struct Saved;
  std::unique_ptr<Saved> saved_;
};

}  // namespace sparseloop::test_support

namespace ts = sparseloop::test_support;
