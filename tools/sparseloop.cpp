// sparseloop: sparse-coding networks from one binary. Thin: parse → validate
// → call the library. Exit codes (docs/cli.md §1.5): 0 success, 2 bad usage or input
// (one line naming the flag or file), 1 any other failure.
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <malloc.h>

#include "cli.h"
#include "commands/commands.h"
#include "sparseloop/sparseloop.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"

using namespace sparseloop;

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/// "error: ", or "error (rank R): " in a rank of a distributed run.
std::string error_prefix() {
  const char* rank = std::getenv("RANK");
  const char* size = std::getenv("WORLD_SIZE");
  if (rank && size && std::string(size) != "1") return std::string("error (rank ") + rank + "): ";
  return "error: ";
}

int run(int argc, char** argv) {
  CLI::App app{"sparseloop: sparse-coding networks (CSC-CTRL, SDNet, VDL) on LibTorch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sparseloop 0.1.0");
  register_builtin_families();
  std::vector<std::string> args(argv + 1, argv + argc);
  // `train` resolves its --config file itself (engine/family.h: below the
  // flags, above the presets, [sections] merged); other commands get the
  // file's keys as flags.
  if (args.empty() || args.front() != "train") args = cli::expand_config(args);
  std::vector<cli::Command> commands;
  cli::register_code(app, commands);
  cli::register_data(app, commands);
  cli::register_train(app, commands, args);
  cli::register_analysis(app, commands);
  cli::register_sweep(app, commands);
  cli::register_interop(app, commands);
  cli::register_bench(app, commands);
  std::reverse(args.begin(), args.end());  // CLI11 consumes a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << first_line(e.what()) << " (see sparseloop --help)" << std::endl;
    return 2;
  }
  // The deepest chosen command runs.
  for (auto it = commands.rbegin(); it != commands.rend(); ++it)
    if (it->app->parsed()) return it->run();
  std::cerr << "error: no command given (see sparseloop --help)" << std::endl;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // LibTorch's CPU allocator hands every tensor to malloc, and glibc serves
  // blocks ≥ 128 KiB by mmap and returns them on free: each fresh activation
  // then page-faults in, which made a soft threshold over 2 M floats 10× slower
  // than its arithmetic. Serving blocks up to 32 MiB (glibc's maximum) from
  // the heap and keeping up to 1 GiB of freed heap makes the CSC-CTRL training
  // step 17 % and a CSC layer's forward+backward 33 % faster (docs/performance.md).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // And grow the heap 256 MiB at a time (address space only: pages become
  // resident when touched): growing it by each request's size kept the kernel
  // busy; `eval` of a CSC-CTRL run on 500 photo crops spent 10.8 s in the
  // kernel for 10.1 s of arithmetic, 0.93 s with this (issue 14; same output).
  mallopt(M_TOP_PAD, 256 << 20);
  // Flush subnormal floats to zero (torch.set_flush_denormal(True)), before any
  // thread starts so that every OpenMP worker inherits the setting (POSIX
  // threads copy the creator's floating-point environment). A CSC-CTRL game
  // on 64×64 crops whose codes drifted into the subnormal range ran its oneDNN
  // convolutions 9× slower (15 img/s against 137; docs/performance.md); values
  // below 1.2e-38 carry nothing a model can use.
  at::globalContext().setFlushDenormal(true);
  // A file-size limit (ulimit -f, a quota-like RLIMIT_FSIZE) would kill the
  // process with SIGXFSZ mid-write; ignored, the write fails with EFBIG and
  // the error names the file, as a full disk (ENOSPC) does.
  std::signal(SIGXFSZ, SIG_IGN);
  // A distributed run's process group ends when main returns, before static
  // destruction: CUDA's runtime may be gone by then, and NCCL's group needs
  // it to shut down (engine/distributed.cpp).
  struct LeaveWorld {
    ~LeaveWorld() { sparseloop::set_world(nullptr); }
  } leave_world;
  try {
    return run(argc, argv);
  } catch (const InputError& e) {
    std::cerr << error_prefix() << first_line(e.what()) << std::endl;
    return 2;
  } catch (const NumericalError& e) {
    std::cerr << error_prefix() << first_line(e.what()) << std::endl;
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << error_prefix() << first_line(e.what_without_backtrace()) << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << error_prefix() << first_line(e.what()) << std::endl;
    return 1;
  }
}
