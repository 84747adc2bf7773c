// The c10d side of data-parallel training. Every c10d include of the project
// is in this file, behind the Communicator of util/distributed.h, so the rest
// compiles the same against LibTorch 1.13 (Debian, CPU) and 2.x (CUDA).
#include "sparseloop/engine/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(USE_C10D_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"

namespace sparseloop {
namespace {

using Millis = std::chrono::milliseconds;

/// The class Gloo's and NCCL's process groups share, whose collectives
/// (allreduce, allgather, broadcast, barrier) this file calls: ProcessGroup
/// in LibTorch 1.13, Backend in 2.x (where ProcessGroup became a wrapper over
/// backends). Read off the class hierarchy rather than a version test
/// (util/compat.h), so that it follows whichever LibTorch the build sees.
using C10dGroup = std::conditional_t<std::is_base_of_v<c10d::Backend, c10d::ProcessGroupGloo>,
                                     c10d::Backend, c10d::ProcessGroup>;
static_assert(std::is_base_of_v<C10dGroup, c10d::ProcessGroupGloo>);
#if defined(USE_C10D_NCCL)
static_assert(std::is_base_of_v<C10dGroup, c10d::ProcessGroupNCCL>,
              "NCCL's process group must share Gloo's base class");
#endif

Millis to_millis(double seconds) {
  return Millis(static_cast<int64_t>(seconds * 1000.0));
}

std::string step_key(int rank) { return "step/" + std::to_string(rank); }

std::string store_text(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

/// The first line of an exception's message, without c10's backtrace.
std::string reason(const std::exception& e) {
  const auto* c = dynamic_cast<const c10::Error*>(&e);
  const std::string what = c ? c->what_without_backtrace() : e.what();
  return what.substr(0, what.find('\n'));
}

/// "30 s", "2.5 s".
std::string format_seconds(double s) {
  std::ostringstream out;
  out << s << " s";
  return out.str();
}

/// Last steps the ranks reported to `store` ("rank 0 step 12, rank 1 step 11").
std::string reported_steps(c10d::Store& store, int size) {
  std::ostringstream out;
  for (int r = 0; r < size; ++r) {
    std::string step = "none";
    try {
      if (store.check({step_key(r)})) step = store_text(store.get(step_key(r)));
    } catch (const std::exception&) {
      return "";  // the store went away with its host
    }
    out << (r ? ", " : "") << "rank " << r << " at step " << step;
  }
  return out.str();
}

/// A collective's result back in the caller's tensor `dest`, when it ran on
/// a device copy (C10dCommunicator::staged); nothing when it ran on `dest`.
void unstage(const torch::Tensor& staged, torch::Tensor& dest) {
  if (!staged.is_same(dest)) dest.copy_(staged);
}

/// A collective in flight on `staged`, its result for `dest` (unstage).
class PendingWork final : public PendingCollective {
 public:
  PendingWork(c10::intrusive_ptr<c10d::Work> work, Millis timeout, torch::Tensor staged,
              torch::Tensor dest)
      : work_(std::move(work)), timeout_(timeout), staged_(std::move(staged)),
        dest_(std::move(dest)) {}
  void wait() override {
    work_->wait(timeout_);
    unstage(staged_, dest_);
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  Millis timeout_;
  torch::Tensor staged_, dest_;
};

/// The world over a c10d process group (Gloo or NCCL).
class C10dCommunicator final : public Communicator {
 public:
  /// `wire`: the device every collective's tensors must be on (NCCL: the
  /// rank's GPU); none when the group takes tensors where they are (Gloo).
  /// `close`, when given, ends the group before it is destroyed (NCCL: its
  /// shutdown(), what torch.distributed.destroy_process_group calls; without
  /// it 2.x warns and aborts its communicators in the destructor).
  C10dCommunicator(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<C10dGroup> pg,
                   int rank, int size, Millis timeout, std::optional<torch::Device> wire,
                   std::function<void()> close)
      : store_(std::move(store)), pg_(std::move(pg)), rank_(rank), size_(size), timeout_(timeout),
        wire_(wire), close_(std::move(close)) {}
  ~C10dCommunicator() override {
    try {
      if (close_) close_();
    } catch (const std::exception&) {
      // A process ending: nothing left to tell the other ranks.
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void allreduce_sum(torch::Tensor& t) override { allreduce_sum_async(t)->wait(); }

  std::unique_ptr<PendingCollective> allreduce_sum_async(torch::Tensor& t) override {
    TORCH_CHECK(t.is_contiguous(), "allreduce_sum: the tensor must be contiguous");
    count(t);
    auto w = staged(t);
    std::vector<at::Tensor> v{w};
    return std::make_unique<PendingWork>(pg_->allreduce(v), timeout_, w, t);
  }

  torch::Tensor allgather_rows(const torch::Tensor& local0) override {
    auto local = local0.contiguous();
    count(local);
    // Unequal row counts: gather the counts, pad every rank to the largest,
    // gather, then keep each rank's own rows (Gloo 1.13 has no uneven gather).
    auto count = torch::full({1}, local.size(0), torch::dtype(torch::kLong).device(local.device()));
    auto counts = gather_equal(count).to(torch::kCPU);  // (size,)
    const int64_t most = counts.max().item<int64_t>();
    auto shape = local.sizes().vec();
    shape[0] = most;
    auto padded = local.size(0) == most ? local : torch::zeros(shape, local.options());
    if (local.size(0) != most && local.size(0) > 0) padded.narrow(0, 0, local.size(0)).copy_(local);
    auto all = gather_equal(padded);  // (size·most, …)
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < size_; ++r)
      parts.push_back(all.narrow(0, r * most, counts[r].item<int64_t>()));
    return torch::cat(parts);
  }

  void broadcast(torch::Tensor& t, int root) override {
    TORCH_CHECK(t.is_contiguous(), "broadcast: the tensor must be contiguous");
    count(t);
    auto w = staged(t);
    std::vector<at::Tensor> v{w};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    pg_->broadcast(v, o)->wait(timeout_);
    unstage(w, t);
  }

  void barrier() override { pg_->barrier()->wait(timeout_); }

  void report_step(int64_t step) override {
    const std::string s = std::to_string(step);
    store_->set(step_key(rank_), std::vector<uint8_t>(s.begin(), s.end()));
  }

  std::string failure_context() override { return reported_steps(*store_, size_); }

 private:
  /// Gathers tensors of the same shape from every rank, concatenated along dim 0.
  torch::Tensor gather_equal(const torch::Tensor& t0) {
    auto t = staged(t0);
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < size_; ++r) out[0].push_back(torch::empty_like(t));
    std::vector<at::Tensor> in{t};
    pg_->allgather(out, in)->wait(timeout_);
    return torch::cat(out[0]).to(t0.device());  // (size·rows, …), where t0 was
  }

  /// `t` on the device the group's collectives need: NCCL takes CUDA tensors
  /// only ("Tensors must be CUDA and dense"), and the library hands every
  /// world the small CPU tensors of its bookkeeping (row counts, stop flags,
  /// evaluation totals) as Gloo takes them. `t` itself where it already is.
  torch::Tensor staged(const torch::Tensor& t) const {
    return wire_ && t.device() != *wire_ ? t.to(*wire_) : t;
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<C10dGroup> pg_;
  int rank_, size_;
  Millis timeout_;
  std::optional<torch::Device> wire_;
  std::function<void()> close_;
};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  try {
    size_t used = 0;
    const int x = std::stoi(v, &used);
    if (used != std::strlen(v)) throw std::invalid_argument(v);
    return x;
  } catch (const std::exception&) {
    throw InputError(std::string(name) + "='" + v + "': not an integer (set by the launcher)");
  }
}

bool loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

/// A free TCP port on the loopback interface (bound, read, released).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  TORCH_CHECK(fd >= 0, "socket: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  TORCH_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0,
              "could not find a free port on 127.0.0.1: ", std::strerror(errno));
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

LaunchEnvironment launch_environment() {
  LaunchEnvironment e;
  e.present = std::getenv("RANK") && std::getenv("WORLD_SIZE");
  if (!e.present) return e;
  e.rank = env_int("RANK", 0);
  e.world_size = env_int("WORLD_SIZE", 1);
  e.local_rank = env_int("LOCAL_RANK", 0);
  if (const char* a = std::getenv("MASTER_ADDR")) e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", 29500);
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent && std::string(agent) == "True";
  require(e.world_size >= 1, "WORLD_SIZE=" + std::to_string(e.world_size) + ": must be >= 1");
  require(e.rank >= 0 && e.rank < e.world_size, "RANK=" + std::to_string(e.rank) +
                                                    ": must be in [0, WORLD_SIZE=" +
                                                    std::to_string(e.world_size) + ")");
  require(e.master_port > 0 && e.master_port < 65536,
          "MASTER_PORT=" + std::to_string(e.master_port) + ": not a TCP port");
  return e;
}

void validate(const DistributedOptions& o) {
  require(o.timeout > 0 && std::isfinite(o.timeout), "--dist-timeout must be > 0 seconds");
  require(o.backend == "gloo" || o.backend == "nccl" || o.backend == "auto",
          "--backend '" + o.backend + "': expected gloo, nccl or auto");
  require(o.init.empty() || (o.init.rfind("file://", 0) == 0 && o.init.size() > 7),
          "--dist-init '" + o.init + "': expected file:///path/on/a/shared/file/system");
}

void join_world(const DistributedOptions& o, torch::Device& device) {
  const LaunchEnvironment env = launch_environment();
  // A world of one needs no process group, unless a backend is named: then
  // it is built (scripts/gpu_check.sh checks NCCL on one GPU this way).
  if (!env.present || (env.world_size == 1 && o.backend == "auto")) {
    set_world(nullptr);
    return;
  }
  validate(o);
  std::string backend = o.backend;
  if (backend == "auto") backend = device.is_cuda() ? "nccl" : "gloo";
  if (device.is_cuda()) device = torch::Device(torch::kCUDA, env.local_rank);  // one GPU per rank
  const Millis timeout = to_millis(o.timeout);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    if (!o.init.empty()) {
      store = c10::make_intrusive<c10d::FileStore>(o.init.substr(7), env.world_size);
    } else {
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(env.master_port);
      so.isServer = env.rank == 0 && !env.agent_store;
      so.numWorkers = env.world_size;
      so.waitWorkers = false;
      so.timeout = timeout;
      store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError("no rendezvous at " +
                     (o.init.empty() ? env.master_addr + ":" + std::to_string(env.master_port)
                                     : o.init) +
                     " within --dist-timeout " + format_seconds(o.timeout) + " (" + reason(e) +
                     ")");
  }
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("sparseloop", store);
  c10::intrusive_ptr<C10dGroup> pg;
  std::function<void()> close_group;
  try {
  if (backend == "gloo") {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    // The interface to talk on: GLOO_SOCKET_IFNAME when set (multi-node), the
    // loopback when the run is on one machine (the default device may resolve
    // the host name to another interface), else the host's default.
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (loopback(env.master_addr))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env.rank, env.world_size, opts);
  } else {
#if defined(USE_C10D_NCCL)
    require(device.is_cuda(), "--backend nccl needs --device cuda");
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    auto nccl =
        c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env.rank, env.world_size, opts);
    close_group = [nccl] { nccl->shutdown(); };
    pg = nccl;
#else
    throw InputError("--backend nccl: this build's LibTorch has no NCCL (use gloo, or build "
                     "against a CUDA LibTorch)");
#endif
  }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    // The process group connects to every other rank: a rank that never
    // started (or a wrong WORLD_SIZE) surfaces here as a timeout.
    throw InputError("the " + std::to_string(env.world_size) +
                     " ranks did not all join through " +
                     (o.init.empty() ? env.master_addr + ":" + std::to_string(env.master_port)
                                     : o.init) +
                     " within --dist-timeout " + format_seconds(o.timeout) + " (" + reason(e) +
                     ")");
  }
  std::optional<torch::Device> wire;
  if (backend == "nccl") wire = device;  // the rank's GPU
  set_world(std::make_shared<C10dCommunicator>(prefixed, pg, env.rank, env.world_size, timeout,
                                               wire, std::move(close_group)));
}

// ---------------------------------------------------------------------------
// The local launcher

namespace {

std::atomic<int> g_forward_signal{0};
std::vector<pid_t>* g_children = nullptr;

void forward_signal(int sig) {
  g_forward_signal = sig;
  if (g_children)
    for (pid_t p : *g_children)
      if (p > 0) ::kill(p, sig);
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

int launch_local_ranks(const std::vector<std::string>& argv, int nproc,
                       const DistributedOptions& options, const std::string& program) {
  require(nproc >= 1 && nproc <= 1024, "--nproc must be in [1, 1024]");
  validate(options);
  // The launcher hosts the store, as torchrun's agent does: it outlives any
  // rank, so it can say which rank stopped advancing.
  const int port = free_port();
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = true;
  so.numWorkers = nproc;
  so.waitWorkers = false;
  so.timeout = to_millis(options.timeout);
  auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", so);
  c10d::PrefixStore steps("sparseloop", store);

  char exe[4096];
  if (program.empty()) {
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    TORCH_CHECK(n > 0, "cannot find this program (/proc/self/exe)");
    exe[n] = '\0';
  } else {
    TORCH_CHECK(program.size() < sizeof exe, "program path too long");
    std::strcpy(exe, program.c_str());
  }
  std::vector<pid_t> children(static_cast<size_t>(nproc), -1);
  g_children = &children;
  struct sigaction forward {}, old_int {}, old_term {};
  forward.sa_handler = forward_signal;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGINT, &forward, &old_int);
  sigaction(SIGTERM, &forward, &old_term);
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    TORCH_CHECK(pid >= 0, "fork: ", std::strerror(errno));
    if (pid == 0) {
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGTERM, &old_term, nullptr);
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
      std::vector<char*> args{exe};
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(exe, args.data());
      std::cerr << "error: cannot start rank " << r << " (" << std::strerror(errno) << ")"
                << std::endl;
      ::_exit(127);
    }
    children[static_cast<size_t>(r)] = pid;
  }
  int result = 0;
  int running = nproc;
  bool failed = false;
  std::chrono::steady_clock::time_point kill_at{};
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0 || (pid < 0 && errno == EINTR)) {
      // Ranks blocked in a collective end when it fails; after a grace period, insist.
      if (failed && std::chrono::steady_clock::now() >= kill_at)
        for (pid_t p : children)
          if (p > 0) ::kill(p, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (pid < 0) break;
    int rank = -1;
    for (int r = 0; r < nproc; ++r)
      if (children[static_cast<size_t>(r)] == pid) rank = r;
    if (rank < 0) continue;
    children[static_cast<size_t>(rank)] = -1;
    --running;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok || failed) continue;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (g_forward_signal && (code == 130 || code == 143)) {
      result = code;  // a stop the user asked for: every rank checkpoints and ends
      continue;
    }
    // A rank failed: stop the others, then say which and where.
    failed = true;
    result = code;
    const std::string where = reported_steps(steps, nproc);
    std::cerr << "error: rank " << rank << " " << describe_exit(status)
              << (where.empty() ? "" : " (" + where + ")")
              << "; stopping the other ranks; the last checkpoint in --out stays valid"
              << std::endl;
    for (pid_t p : children)
      if (p > 0) ::kill(p, SIGTERM);
    kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  }
  g_children = nullptr;
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return result;
}

}  // namespace sparseloop
