#include "sparseloop/families/sdnet/robust.h"

#include <gtest/gtest.h>

#include "sparseloop/util/error.h"

using namespace sparseloop;

TEST(SdnetRobust, LambdaSweepParsing) {
  auto l = parse_lambda_sweep("0.1:1.4:14");
  ASSERT_EQ(l.size(), 14u);
  for (size_t i = 0; i < l.size(); ++i) EXPECT_NEAR(l[i], 0.1 * static_cast<double>(i + 1), 1e-12);
  EXPECT_EQ(parse_lambda_sweep("0.5,0.1,0.5"), (std::vector<double>{0.1, 0.5}));
  EXPECT_EQ(parse_lambda_sweep("0.3:0.3:1"), (std::vector<double>{0.3}));
  EXPECT_THROW(parse_lambda_sweep("0.1:1.4"), InputError);
  EXPECT_THROW(parse_lambda_sweep("0.1:1.4:2.5"), InputError);
  EXPECT_THROW(parse_lambda_sweep("a,b"), InputError);
  EXPECT_THROW(parse_lambda_sweep("-1,0.2"), InputError);
}

// numpy.polyfit(x, y, 1) is the least-squares line; compare with torch's
// least-squares solver on the design matrix [x 1].
TEST(SdnetRobust, LineFitIsLeastSquares) {
  torch::manual_seed(0);
  auto x = torch::rand({9}, torch::kDouble) * 50;
  auto y = 0.02 * x + 0.1 + 0.05 * torch::randn({9}, torch::kDouble);
  std::vector<double> xv(x.data_ptr<double>(), x.data_ptr<double>() + 9);
  std::vector<double> yv(y.data_ptr<double>(), y.data_ptr<double>() + 9);
  auto f = fit_lambda_line(xv, yv);
  auto A = torch::stack({x, torch::ones_like(x)}, 1);  // (9, 2)
  auto sol = std::get<0>(torch::linalg_lstsq(A, y.unsqueeze(1)));
  EXPECT_NEAR(f.slope, sol[0][0].item<double>(), 1e-10);
  EXPECT_NEAR(f.intercept, sol[1][0].item<double>(), 1e-10);
  // All x equal: no slope, the mean λ.
  auto c = fit_lambda_line({3.0, 3.0, 3.0}, {0.2, 0.4, 0.6});
  EXPECT_EQ(c.slope, 0.0);
  EXPECT_NEAR(c.intercept, 0.4, 1e-12);
}

namespace {
LinearFit line(double slope, double intercept) {
  LinearFit f;
  f.slope = slope;
  f.intercept = intercept;
  f.n = 2;
  return f;
}
}  // namespace

// With r(λ) = c·λ + d and the line λ = a·r + b, the crossing solves
// λ = a(cλ + d) + b, i.e. λ = (a·d + b)/(1 − a·c).
TEST(SdnetRobust, SelectedLambdaIsWhereTheFitMeetsTheResidualCurve) {
  std::vector<double> grid;
  for (int i = 1; i <= 14; ++i) grid.push_back(0.1 * i);
  const double c = 20, d = 5, a = 0.02, b = 0.1;
  std::vector<double> r;
  for (double l : grid) r.push_back(c * l + d);
  const double expected = (a * d + b) / (1 - a * c);  // 0.3333…
  EXPECT_NEAR(select_lambda(line(a, b), grid, r), expected, 1e-12);
  // No crossing on the grid: the closest point (here the largest λ).
  EXPECT_NEAR(select_lambda(line(0.0, 5.0), grid, r), 1.4, 1e-12);
  EXPECT_NEAR(select_lambda(line(0.0, 0.0), grid, r), 0.1, 1e-12);
}

namespace {

Sdnet tiny(const std::string& name) {
  auto o = sdnet_options_for(name);
  o.width = 4;
  o.in_channels = 1;
  o.num_classes = 3;
  return Sdnet(o);
}

LabelledImages images(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({n, 1, 8, 8}), torch::randint(0, 3, {n}, torch::kLong)};
}

}  // namespace

TEST(SdnetRobust, SweepRecordsAccuracyAndResidualPerLambda) {
  torch::manual_seed(1);
  Sdnet net = tiny("sdnet18");
  auto data = images(10, 2);
  const std::vector<double> lambdas{0.1, 0.5, 1.0};
  auto s = sweep_stem_lambda(net, data, lambdas, torch::kCPU, 4);
  ASSERT_EQ(s.accuracy.size(), 3u);
  ASSERT_EQ(s.residual.size(), 3u);
  EXPECT_EQ(s.correct.sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_LT(s.residual[0], s.residual[1]);
  EXPECT_LT(s.residual[1], s.residual[2]);
  EXPECT_EQ(net->stem_lambda(), 0.1);  // restored
  // Accuracy equals a direct evaluation at that λ.
  torch::NoGradGuard no_grad;
  net->set_stem_lambda(0.5);
  auto pred = net->forward(data.x).argmax(1);
  EXPECT_NEAR(s.accuracy[1], 100.0 * pred.eq(data.y).to(torch::kDouble).mean().item<double>(),
              1e-9);
  net->set_stem_lambda(0.1);
}

TEST(SdnetRobust, EndToEndJsonHasTheCliKeys) {
  torch::manual_seed(3);
  Sdnet net = tiny("sdnet18");
  RobustOptions o;
  o.corruption = "gaussian";
  o.levels = {0.1, 0.5, 1.0};
  o.lambdas = {0.1, 0.4, 0.8};
  o.batch_size = 8;
  o.calibration = "train";
  auto clean = images(12, 4);
  auto noisy = [&](size_t i) {
    torch::manual_seed(100 + i);
    return LabelledImages{clean.x + o.levels[i] * torch::randn_like(clean.x), clean.y};
  };
  auto calib = [&](size_t i) {
    auto c = images(12, 50 + i);
    return LabelledImages{c.x + o.levels[i] * torch::randn_like(c.x), c.y};
  };
  auto r = robust_inference(net, o, clean, noisy, calib, torch::kCPU);
  auto j = r.to_json();
  EXPECT_EQ(j["corruption"], "gaussian");
  EXPECT_TRUE(j["clean_accuracy"].is_number());
  ASSERT_EQ(j["levels"].size(), 3u);
  for (const auto& l : j["levels"]) {
    for (const char* k : {"level", "accuracy_default_lambda", "best_lambda", "accuracy_best_lambda",
                          "selected_lambda", "accuracy_selected_lambda"})
      EXPECT_TRUE(l.contains(k) && l[k].is_number()) << k;
    EXPECT_GE(l["accuracy_best_lambda"].get<double>(), l["accuracy_default_lambda"].get<double>());
    EXPECT_GE(l["selected_lambda"].get<double>(), 0.0);
  }
  // A ResNet has no stem λ: accuracies only, λ fields null.
  Sdnet resnet = tiny("resnet18");
  auto rr = robust_inference(resnet, o, clean, noisy, calib, torch::kCPU).to_json();
  // As a baseline on the same images it gives the same accuracies.
  r.baselines.push_back(robust_baseline(resnet, clean, noisy, 3, torch::kCPU, 5));
  r.baselines.back().name = "resnet";
  auto jb = r.to_json();
  ASSERT_EQ(jb["baselines"].size(), 1u);
  EXPECT_EQ(jb["baselines"][0]["name"], "resnet");
  EXPECT_DOUBLE_EQ(jb["baselines"][0]["clean_accuracy"].get<double>(),
                   rr["clean_accuracy"].get<double>());
  for (size_t i = 0; i < 3; ++i)
    EXPECT_DOUBLE_EQ(jb["baselines"][0]["accuracy"][i].get<double>(),
                     rr["levels"][i]["accuracy_default_lambda"].get<double>());
  EXPECT_TRUE(j["baselines"].empty());
  EXPECT_TRUE(rr["levels"][0]["best_lambda"].is_null());
  EXPECT_TRUE(rr["levels"][0]["selected_lambda"].is_null());
  EXPECT_TRUE(rr["levels"][0]["accuracy_default_lambda"].is_number());
  o.calibration = "nope";
  EXPECT_THROW(robust_inference(net, o, clean, noisy, calib, torch::kCPU), InputError);
}
