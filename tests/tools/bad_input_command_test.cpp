// Bad input through the built binary, one case per line: a flag out of its
// range, a file argument missing or of the wrong kind, an unknown model. Each
// must exit 2 with exactly one line (starting "error:") that names the flag
// or file, and write nothing. Each case is its own test (CTest runs them in
// parallel); the families' own flags are covered by their command tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/testing.h"

namespace fs = std::filesystem;

namespace {

struct BadInput {
  const char* name;
  const char* args;   ///< FILE = a regular file, RUN = a folder that is not a run
  const char* names;  ///< what the error line must contain
};

const BadInput kCases[] = {
    // A run argument that is missing, a plain file, or a folder without a run.
    {"eval_run_is_a_file", "eval --run FILE", "FILE"},
    {"eval_run_missing", "eval --run MISSING", "MISSING"},
    {"reconstruct_run_not_a_run", "reconstruct --run RUN", "RUN"},
    {"atoms_run_not_a_run", "atoms --run RUN", "RUN"},
    {"report_run_is_a_file", "report --run FILE", "FILE"},
    {"denoise_run_not_a_run", "denoise --run RUN", "RUN"},
    {"probe_run_not_a_run", "probe --run RUN", "RUN"},
    // train: the flags every run has, out of range (refused before any data
    // is read or fetched).
    {"train_negative_threads", "train --model vdl --threads -2 --max-steps 1 --out OUT", "--threads"},
    {"train_negative_max_steps", "train --model vdl --max-steps -1 --out OUT", "--max-steps"},
    {"train_negative_epochs", "train --model vdl --epochs -3 --out OUT", "--epochs"},
    {"train_negative_log_every", "train --model vdl --log-every -1 --max-steps 1 --out OUT",
     "--log-every"},
    {"train_zero_keep_checkpoints",
     "train --model vdl --keep-checkpoints 0 --max-steps 1 --out OUT", "--keep-checkpoints"},
    {"train_negative_time_limit", "train --model vdl --time-limit -1 --max-steps 1 --out OUT",
     "--time-limit"},
    {"train_zero_dist_timeout", "train --model vdl --dist-timeout 0 --max-steps 1 --out OUT",
     "--dist-timeout"},
    {"train_negative_seed", "train --model vdl --seed -1 --max-steps 1 --out OUT", "seed"},
    {"train_unknown_device", "train --model vdl --device tpu --max-steps 1 --out OUT", "--device"},
    {"train_unknown_model", "train --model nosuch --max-steps 1 --out OUT", "nosuch"},
    // train: file arguments missing or of the wrong kind.
    {"train_config_missing", "train --model vdl --config MISSING --max-steps 1 --out OUT",
     "MISSING: no such file"},
    {"train_config_not_toml", "train --model vdl --config FILE --max-steps 1 --out OUT",
     "not valid TOML"},
    {"train_data_dir_is_a_file", "train --model vdl --data-dir FILE --max-steps 1 --out OUT",
     "FILE"},
    {"train_out_is_a_file", "train --model vdl --max-steps 1 --out FILE", "FILE"},
    {"train_out_inside_a_file", "train --model vdl --max-steps 1 --out FILE/run", "FILE/run"},
};

class BadInputCommand : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputCommand, ExitsTwoWithOneLineNamingIt) {
  ts::TempDir dir;
  const std::string file = dir.file("a-file"), run = dir.file("not-a-run");
  std::ofstream(file) << "not what it should be\n";
  fs::create_directories(run);
  setenv("SPARSELOOP_DATA", dir.file("data-root").c_str(), 1);  // nothing fetched outside
  auto expand = [&](std::string s) {
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"FILE", file},
                                   {"MISSING", dir.file("missing")},
                                   {"RUN", run},
                                   {"OUT", dir.file("out")}}) {
      for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    }
    return s;
  };
  const auto r = ts::run_cli(expand(GetParam().args));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(expand(GetParam().names)), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("out"))) << "wrote a run folder";
  EXPECT_FALSE(fs::exists(dir.file("data-root"))) << "fetched data";
}

INSTANTIATE_TEST_SUITE_P(Cases, BadInputCommand, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
