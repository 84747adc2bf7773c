// The denoising sweep shared by the families (engine/denoise.h), with a
// made-up reconstruction whose error is known in closed form.
#include "sparseloop/engine/denoise.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/testing.h"

using namespace sparseloop;

TEST(Denoise, RowsShareOneNoiseDrawAndFollowTheReconstruction) {
  ts::TempDir dir;
  torch::manual_seed(0);
  const auto clean_all = torch::rand({10, 1, 6, 6}) * 0.5 + 0.25;  // pixels in [0.25, 0.75]
  DenoiseProblem p;
  p.sigma = 0.05;
  p.lambdas = {0.0, 0.5, 0.9};
  p.samples = 10;
  p.batch_size = 4;  // three batches: the noise must not depend on the row
  p.seed = 3;
  p.out = dir.file("denoise");
  p.clean = [&](int64_t start, int64_t count) { return clean_all.narrow(0, start, count); };
  p.to_pixels = [](const torch::Tensor& x, int64_t) { return x; };
  // "Reconstruction" with λ: the noisy input pulled towards the clean one by λ.
  int64_t offset = 0;
  p.reconstruct = [&](const torch::Tensor& noisy, double lambda) {
    auto clean = clean_all.narrow(0, offset, noisy.size(0));
    return std::make_pair(clean + (1.0 - lambda) * (noisy - clean), torch::Tensor());
  };
  p.methods.push_back({"identity", [&](const torch::Tensor& noisy) {
                         return std::make_pair(noisy.clone(), (noisy > 0.5).to(torch::kFloat));
                       }});
  // Track which batch the callbacks see (clean() is called first for each batch).
  auto clean_fn = p.clean;
  p.clean = [&](int64_t start, int64_t count) {
    offset = start;
    return clean_fn(start, count);
  };
  auto j = denoise_by_lambda(p);
  ASSERT_EQ(j["rows"].size(), 3u);
  // λ = 0 reproduces the noisy input exactly: the same noise in every row.
  EXPECT_DOUBLE_EQ(j["rows"][0]["mse"].get<double>(), j["noisy"]["mse"].get<double>());
  EXPECT_DOUBLE_EQ(j["identity"]["psnr"].get<double>(), j["noisy"]["psnr"].get<double>());
  // MSE scales as (1 − λ)²; PSNR rises by −20 log10(1 − λ).
  const double mse0 = j["noisy"]["mse"].get<double>();
  EXPECT_NEAR(j["rows"][1]["mse"].get<double>(), 0.25 * mse0, 1e-9);
  EXPECT_NEAR(j["rows"][2]["mse"].get<double>(), 0.01 * mse0, 1e-9);
  EXPECT_GT(j["rows"][2]["psnr"].get<double>(), j["rows"][1]["psnr"].get<double>());
  EXPECT_NEAR(mse0, 0.05 * 0.05, 0.3 * 0.05 * 0.05);  // σ² on average
  EXPECT_GT(j["identity"]["sparsity"].get<double>(), 0.0);  // codes were counted
  for (const char* f : {"denoise.json", "denoise.png", "denoise_examples.png"})
    EXPECT_TRUE(std::filesystem::exists(p.out + "/" + f)) << f;
  // The same seed gives the same numbers.
  EXPECT_EQ(denoise_by_lambda(p)["rows"], j["rows"]);
}
