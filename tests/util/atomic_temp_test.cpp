// The temporary files of write_file_atomic and the sweep of those a killed
// process left (util/atomic_temp.h): only files of the helper's own pattern,
// and only those of processes that are gone.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "sparseloop/util/atomic_temp.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

namespace fs = std::filesystem;
using namespace sparseloop;

namespace {

/// The PID of a process that has exited (and been reaped).
long dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

}  // namespace

TEST(AtomicTemp, NamesCarryThePidOfTheWriter) {
  const std::string tmp = atomic_temp_path("/runs/a/config.toml");
  EXPECT_EQ(tmp.rfind("/runs/a/config.toml.tmp-", 0), 0u) << tmp;
  EXPECT_EQ(atomic_temp_pid(fs::path(tmp).filename().string()), static_cast<long>(::getpid()));
  EXPECT_EQ(atomic_temp_pid("metrics.jsonl.tmp-4242-17"), 4242);
  for (const char* other : {"config.toml", "a.tmp-", "a.tmp-12", "a.tmp-12-", "a.tmp--3",
                            "a.tmp-x-3", "a.tmp-12-3x", ".tmp-step-00000003-77", "a.tmp-0-1",
                            "a.tmp-12345678901-1"})
    EXPECT_EQ(atomic_temp_pid(other), 0) << other;
}

TEST(AtomicTemp, RemovesOnlyTheFilesOfDeadWriters) {
  ts::TempDir dir;
  const long dead = dead_pid();
  const std::string gone = "config.toml.tmp-" + std::to_string(dead) + "-123";
  const std::string mine = "summary.json.tmp-" + std::to_string(::getpid()) + "-9";
  const std::string live = "metrics.jsonl.tmp-1-5";  // PID 1 runs as long as the system does
  for (const auto& name : {gone, mine, live, std::string("notes.tmp-abc"), std::string("model.safetensors")})
    std::ofstream(dir.file(name)) << "x";
  fs::create_directories(dir.file("sub.tmp-" + std::to_string(dead) + "-1"));  // a folder: kept
  fs::create_directories(dir.file("deeper"));
  std::ofstream(dir.file("deeper/x.tmp-" + std::to_string(dead) + "-1")) << "x";  // not recursive
  auto removed = remove_stale_temp_files(dir.path());
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{gone, mine}));
  EXPECT_FALSE(fs::exists(dir.file(gone)));
  EXPECT_FALSE(fs::exists(dir.file(mine)));
  for (const auto& kept : {live, std::string("notes.tmp-abc"), std::string("model.safetensors"),
                           "sub.tmp-" + std::to_string(dead) + "-1",
                           "deeper/x.tmp-" + std::to_string(dead) + "-1"})
    EXPECT_TRUE(fs::exists(dir.file(kept))) << kept;
  EXPECT_TRUE(remove_stale_temp_files(dir.file("missing")).empty());
}

// write_file_atomic leaves nothing of its own behind when it succeeds.
TEST(AtomicTemp, ASuccessfulWriteLeavesNoTemporaryFile) {
  ts::TempDir dir;
  write_file_atomic(dir.file("a.json"), "{}\n");
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) entries += e.exists() ? 1 : 0;
  EXPECT_EQ(entries, 1u);
}
