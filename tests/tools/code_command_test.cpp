// End-to-end tests of `sparseloop code` through the built binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "sparseloop/io/safetensors.h"
#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/linear_dictionary.h"
#include "support/testing.h"

using namespace sparseloop;
using ts::run_cli;

namespace {

// Independent KKT check on the written codes (not the library's helper):
// r = Dᵀ(x − Dz); |r| ≤ λ off the support, r = λ sign(z) on it.
double kkt(const torch::Tensor& r, const torch::Tensor& z, double lambda) {
  auto on = z != 0;
  auto viol = torch::where(on, (r - lambda * z.sign()).abs(), torch::relu(r.abs() - lambda));
  return viol.max().item<double>() / lambda;
}

}  // namespace

TEST(CodeCommand, ConvolutionalLassoSatisfiesKkt) {
  ts::TempDir dir;
  torch::manual_seed(0);
  auto W = torch::randn({8, 3, 5, 5});
  auto x = torch::randn({2, 3, 13, 12});
  save_safetensors(dir.file("D.safetensors"), {{"weight", W}});
  save_safetensors(dir.file("X.safetensors"), {{"x", x}});
  auto r = run_cli("code --dictionary " + dir.file("D.safetensors") + " --input " +
                   dir.file("X.safetensors") + " --output " + dir.file("Z.safetensors") +
                   " --lambda 0.5 --iterations 2000 --stride 2 --padding 1 --threads 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"objective", "sparsity", "psnr", "iterations", "lipschitz"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["iterations"].get<int64_t>(), 2000);
  auto out = load_safetensors(dir.file("Z.safetensors"));
  auto z = out.get("z").to(torch::kDouble);
  auto xd = x.to(torch::kDouble), Wd = W.to(torch::kDouble);
  ConvGeometry g{2, 1};
  auto resid = xd - conv_synthesis_reference(z, Wd, g, 13, 12);
  EXPECT_LT(kkt(conv_analysis(resid, Wd, g), z, 0.5), 1e-3);
  EXPECT_TRUE(torch::allclose(out.get("x_hat").to(torch::kDouble),
                              conv_synthesis_reference(z, Wd, g, 13, 12), 1e-4, 1e-4));
  EXPECT_NEAR(j["sparsity"].get<double>(), (z == 0).to(torch::kDouble).mean().item<double>(), 1e-9);
}

TEST(CodeCommand, LinearFloat64NonNegativeWithTolerance) {
  ts::TempDir dir;
  torch::manual_seed(1);
  auto W = torch::randn({30, 12}, torch::kDouble);
  auto x = torch::randn({5, 12}, torch::kDouble);
  save_safetensors(dir.file("D.safetensors"), {{"weight", W}});
  save_safetensors(dir.file("X.safetensors"), {{"x", x}});
  auto r = run_cli("code --dictionary " + dir.file("D.safetensors") + " --input " +
                   dir.file("X.safetensors") + " --output " + dir.file("Z.safetensors") +
                   " --lambda 0.3 --iterations 20000 --tolerance 1e-12 --nonnegative --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto z = load_safetensors(dir.file("Z.safetensors")).get("z");
  EXPECT_EQ(z.scalar_type(), torch::kDouble);
  EXPECT_GE(z.min().item<double>(), 0.0);
  auto rr = linear_analysis(x - linear_synthesis(z, W), W);
  // Non-negative KKT: r = λ on the support, r ≤ λ elsewhere.
  auto viol = torch::where(z > 0, (rr - 0.3).abs(), torch::relu(rr - 0.3));
  EXPECT_LT(viol.max().item<double>(), 1e-6);
  EXPECT_LT(nlohmann::json::parse(r.out)["iterations"].get<int64_t>(), 20000);
}

TEST(CodeCommand, BadInputGivesExitCodeTwoAndNamesTheProblem) {
  ts::TempDir dir;
  save_safetensors(dir.file("D.safetensors"), {{"weight", torch::randn({4, 3, 3, 3})}});
  save_safetensors(dir.file("X1.safetensors"), {{"x", torch::randn({2, 1, 8, 8})}});
  save_safetensors(dir.file("Xn.safetensors"), {{"y", torch::randn({2, 3, 8, 8})}});
  const std::string base = "code --dictionary " + dir.file("D.safetensors") + " --output " +
                           dir.file("Z.safetensors") + " --input ";
  auto r = run_cli(base + dir.file("X1.safetensors"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("X1.safetensors"), std::string::npos) << r.err;
  r = run_cli(base + dir.file("Xn.safetensors"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no tensor named 'x'"), std::string::npos) << r.err;
  r = run_cli(base + dir.file("missing.safetensors"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.safetensors"), std::string::npos) << r.err;
  r = run_cli(base + dir.file("X1.safetensors") + " --lambda -1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--lambda"), std::string::npos) << r.err;
  r = run_cli(base + dir.file("X1.safetensors") + " --solver adam");
  EXPECT_EQ(r.exit_code, 2);
  r = run_cli("code --bogus-flag");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(ts::TempDir().path().empty());
  // Nothing half-written.
  EXPECT_FALSE(std::filesystem::exists(dir.file("Z.safetensors")));
  // One line, no stack trace.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CodeCommand, ConfigFileSetsFlagsAndFlagsWin) {
  ts::TempDir dir;
  torch::manual_seed(2);
  save_safetensors(dir.file("D.safetensors"), {{"weight", torch::randn({20, 8})}});
  save_safetensors(dir.file("X.safetensors"), {{"x", torch::randn({3, 8})}});
  {
    std::ofstream cfg(dir.file("c.toml"));
    cfg << "dictionary = \"" << dir.file("D.safetensors") << "\"\n"
        << "input = \"" << dir.file("X.safetensors") << "\"\n"
        << "output = \"" << dir.file("Z.safetensors") << "\"\n"
        << "iterations = 7\nlambda = 0.2\nnonnegative = true\n";
  }
  auto r = run_cli("code --config " + dir.file("c.toml") + " --iterations 9 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["iterations"].get<int64_t>(), 9);
  EXPECT_GE(load_safetensors(dir.file("Z.safetensors")).get("z").min().item<double>(), 0.0);
  {
    std::ofstream cfg(dir.file("bad.toml"));
    cfg << "iterations = [\n";
  }
  r = run_cli("code --config " + dir.file("bad.toml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.toml"), std::string::npos) << r.err;
}

// Coordinate descent on a linear dictionary: the minimizer the float64 FISTA
// run reaches, in far fewer passes, stopping by itself (a fixed point).
TEST(CodeCommand, CoordinateDescentMatchesFistaOnALinearDictionary) {
  ts::TempDir dir;
  torch::manual_seed(3);
  auto W = torch::randn({40, 16}, torch::kDouble);
  W.div_(W.norm(2, 1, /*keepdim=*/true));  // unit atoms
  auto x = torch::randn({7, 16}, torch::kDouble);
  save_safetensors(dir.file("D.safetensors"), {{"weight", W}});
  save_safetensors(dir.file("X.safetensors"), {{"x", x}});
  const std::string base = "code --dictionary " + dir.file("D.safetensors") + " --input " +
                           dir.file("X.safetensors") + " --lambda 0.2 --json --output ";
  auto cd = run_cli(base + dir.file("Zc.safetensors") + " --solver cd --iterations 1000");
  auto fista = run_cli(base + dir.file("Zf.safetensors") + " --iterations 20000");
  ASSERT_EQ(cd.exit_code, 0) << cd.err;
  ASSERT_EQ(fista.exit_code, 0) << fista.err;
  auto jc = nlohmann::json::parse(cd.out), jf = nlohmann::json::parse(fista.out);
  EXPECT_EQ(jc["solver"], "cd");
  EXPECT_FALSE(jf["gram_form"].get<bool>());  // 40 atoms ≥ 2·16 values: operator form
  const double oc = jc["objective"].get<double>(), of = jf["objective"].get<double>();
  EXPECT_NEAR(oc, of, 1e-10 * of);
  EXPECT_LT(jc["kkt_violation"].get<double>(), 1e-12);
  EXPECT_LT(jc["iterations"].get<int64_t>(), 1000);
  auto z = load_safetensors(dir.file("Zc.safetensors")).get("z");
  auto rr = linear_analysis(x - linear_synthesis(z, W), W);
  EXPECT_LT(kkt(rr, z, 0.2), 1e-10);
  // A convolutional dictionary has no coordinate-descent solver: exit 2 naming the flag.
  save_safetensors(dir.file("Dc.safetensors"), {{"weight", torch::randn({4, 1, 3, 3})}});
  save_safetensors(dir.file("Xc.safetensors"), {{"x", torch::randn({1, 1, 8, 8})}});
  auto bad = run_cli("code --dictionary " + dir.file("Dc.safetensors") + " --input " +
                     dir.file("Xc.safetensors") + " --output " + dir.file("Zb.safetensors") +
                     " --solver cd");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--solver cd"), std::string::npos) << bad.err;
}
