// End-to-end tests of `sparseloop bench` through the built binary (timings
// are not checked here: docs/performance.md records them).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "support/testing.h"

using ts::run_cli;

TEST(BenchCommand, ProfileWritesAChromeTraceOfTheCaseOperators) {
  ts::TempDir dir;
  const std::string trace = dir.file("trace.json");
  auto r = run_cli("bench --case vdl-inference --batch 8 --iterations 3 --repeats 1 --threads 1 "
                   "--profile " + trace + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("profile").get<std::string>(), trace);
  EXPECT_GT(j.at("forward_ms").get<double>(), 0.0);
  std::ifstream in(trace);
  ASSERT_TRUE(in) << trace;
  const auto events = nlohmann::json::parse(in);  // whole, valid JSON
  ASSERT_TRUE(events.is_array());
  int complete = 0, matmuls = 0;
  for (const auto& e : events) {
    if (e.value("ph", "") != "X") continue;
    ++complete;
    EXPECT_GE(e.at("dur").get<double>(), 0.0);
    const auto name = e.at("name").get<std::string>();
    if (name == "aten::mm" || name == "aten::addmm" || name == "aten::matmul") ++matmuls;
  }
  EXPECT_GT(complete, 100);  // every operator of the warm-up and timed runs
  EXPECT_GT(matmuls, 0);     // VDL's FISTA steps are matrix products
}

TEST(BenchCommand, ProfileOfTheCscLayerLeavesTheTensorPeaksUnmeasured) {
  // The allocation tracker and the profiler share c10's one profiler-state
  // slot: with both installed the profiler read the tracker as its own state
  // and the process aborted. Under --profile the tensor peaks are null.
  ts::TempDir dir;
  auto r = run_cli("bench --case csc-layer --in 2 --out 4 --size 8 --batch 2 --iterations 2 "
                   "--repeats 1 --threads 1 --backward checkpointed --profile " +
                   dir.file("t.json") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.at("peak_tensor_mib").is_null());
  EXPECT_TRUE(j.at("autograd_peak_tensor_mib").is_null());
  EXPECT_FALSE(j.contains("peak_tensor_vs_autograd"));
  EXPECT_GT(j.at("forward_backward_ms").get<double>(), 0.0);
  // Without --profile they are measured.
  auto plain = run_cli("bench --case csc-layer --in 2 --out 4 --size 8 --batch 2 --iterations 2 "
                       "--repeats 1 --threads 1 --json");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_GT(nlohmann::json::parse(plain.out).at("peak_tensor_mib").get<double>(), 0.0);
}

// The CSC layer is timed against two plain formulations in the same run:
// D as conv_transpose2d through our solver, and the whole layer in plain
// LibTorch ops (the SDNet authors' DictBlock in C++). Both must solve the
// same problem: the plain codes equal ours to float rounding, also with a
// stride (output_padding) and an even kernel.
TEST(BenchCommand, CscLayerPlainFormulationSolvesTheSameProblem) {
  for (const std::string geometry : {"--kernel 3 --stride 1", "--kernel 4 --stride 2"}) {
    auto r = run_cli("bench --case csc-layer --in 3 --out 8 --size 12 --batch 2 --iterations 4 " +
                     geometry + " --repeats 1 --threads 1 --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_LT(j.at("plain_rel_error").get<double>(), 1e-5) << geometry;
    EXPECT_GT(j.at("plain_forward_ms").get<double>(), 0.0);
    EXPECT_GT(j.at("plain_forward_backward_ms").get<double>(), 0.0);
    // Ratios are medians of paired rounds (util/timing.h), all present.
    for (const char* k : {"speedup_forward", "speedup_forward_backward", "speedup_vs_plain_forward",
                          "speedup_vs_plain_forward_backward", "paired_forward_ms"})
      EXPECT_GT(j.at(k).get<double>(), 0.0) << k;
  }
}

TEST(BenchCommand, ProfileWhereNoFileCanBeWrittenFailsBeforeTheCaseRuns) {
  ts::TempDir dir;
  std::ofstream(dir.file("plain")) << "a file, not a folder";
  auto r = run_cli("bench --case vdl-inference --repeats 1 --profile " + dir.file("plain") +
                   "/trace.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--profile"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("forward_ms"), std::string::npos);  // nothing was timed
}

// The CLI flushes subnormal floats to zero in main, before LibTorch's thread
// pool exists, so every worker inherits it: without it a game whose codes
// drifted into the subnormal range ran its convolutions 9× slower
// (docs/performance.md). The bench reports what the threads actually do.
TEST(BenchCommand, EveryThreadFlushesSubnormals) {
  auto r = run_cli("bench --case vdl-inference --batch 8 --iterations 3 --repeats 1 --threads 2 "
                   "--json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.at("machine").at("subnormals_flushed").get<bool>()) << j.at("machine").dump();
  // Its reference is the autograd loop timed in the same process, paired with
  // ours; no fixed reference time (a stale 3 400 ms, once) is reported.
  EXPECT_GT(j.at("autograd_ms").get<double>(), 0.0);
  EXPECT_GT(j.at("speedup_vs_autograd").get<double>(), 0.0);
  EXPECT_FALSE(j.contains("reference_ms"));
  EXPECT_FALSE(j.contains("speedup_vs_reference"));
}
