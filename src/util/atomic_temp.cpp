#include "sparseloop/util/atomic_temp.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <random>

namespace sparseloop {
namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = ".tmp-";

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

/// True when `pid` names a running process (one of another user included:
/// kill() then fails with EPERM, not ESRCH).
bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

}  // namespace

std::string atomic_temp_path(const std::string& path) {
  std::random_device rd;
  return path + kMarker + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

long atomic_temp_pid(const std::string& name) {
  const size_t at = name.rfind(kMarker);
  if (at == std::string::npos || at == 0) return 0;
  const std::string rest = name.substr(at + std::string(kMarker).size());
  const size_t dash = rest.find('-');
  if (dash == std::string::npos) return 0;
  const std::string pid = rest.substr(0, dash), n = rest.substr(dash + 1);
  if (!all_digits(pid) || !all_digits(n) || pid.size() > 9) return 0;
  const long value = std::stol(pid);
  return value > 0 ? value : 0;
}

std::vector<std::string> remove_stale_temp_files(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> stale;  // listed first, removed after the listing
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const long pid = atomic_temp_pid(e.path().filename().string());
    if (pid == 0 || !e.is_regular_file(ec)) continue;
    if (pid != static_cast<long>(::getpid()) && process_alive(pid)) continue;
    stale.push_back(e.path());
  }
  std::vector<std::string> removed;
  for (const auto& p : stale)
    if (fs::remove(p, ec)) removed.push_back(p.filename().string());
  return removed;
}

}  // namespace sparseloop
