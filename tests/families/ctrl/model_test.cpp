// CSC-CTRL model pieces not covered by the game tests: BatchNorm statistics
// for evaluation and the data-dependent decoder initialization.
#include "sparseloop/families/ctrl/model.h"

#include <gtest/gtest.h>

using namespace sparseloop;

namespace {

CscCtrl tiny_model() {
  torch::manual_seed(0);
  return CscCtrl(CscCtrlOptions().channels(1).image_size(32).width(4).csc(
      ctrl_csc_options().lambda(0.01).steps(2)));
}

}  // namespace

TEST(CtrlModel, RecalibratedStatisticsMakeEvaluationEqualTheBatchForward) {
  // With the statistics of exactly one batch, eval mode must reproduce the
  // training-mode (batch-statistics) closed loop on that batch; with the
  // EMA left by a few training forwards it does not.
  auto model = tiny_model();
  auto x = torch::rand({64, 1, 32, 32}) * 2 - 1;
  torch::NoGradGuard g;
  model->train();
  auto reference = model->decode(model->encode(x));       // (64, 1, 32, 32)
  auto stale = model->decode(model->encode(x));           // the EMA after two passes
  model->eval();
  const double before = (model->decode(model->encode(x)) - reference).abs().max().item<double>();
  recalibrate_batch_norm(*model, {x});
  EXPECT_FALSE(model->is_training());                     // mode restored
  const double after = (model->decode(model->encode(x)) - reference).abs().max().item<double>();
  EXPECT_LT(after, 2e-3) << "before " << before;          // unbiased vs biased var over 64·H·W
  EXPECT_GT(before, 10 * after);
  // The average is over all batches given, in equal weights.
  auto x2 = torch::rand({64, 1, 32, 32}) * 2 - 1;
  recalibrate_batch_norm(*model, {x, x2});
  auto& bn = *model->dec_bn[0];
  model->train();
  auto h = model->layers.back()->decode(model->encode(x).view({64, -1, 1, 1}), 4, 4);
  auto h2 = model->layers.back()->decode(model->encode(x2).view({64, -1, 1, 1}), 4, 4);
  auto expected = 0.5 * (h.mean({0, 2, 3}) + h2.mean({0, 2, 3}));
  EXPECT_LT((bn.running_mean - expected).abs().max().item<double>(), 1e-5);
}

TEST(CtrlModel, CalibrationMatchesDecoderStatisticsToTheEncoders) {
  // After calibrate(x), decoder BN j outputs, per channel, the mean and
  // standard deviation of the encoder activation it stands for.
  auto model = tiny_model();
  auto x = torch::rand({32, 1, 32, 32}) * 2 - 1;
  model->train();
  model->calibrate(x);
  torch::NoGradGuard g;
  auto a = model->layers[0]->forward(x);                   // (32, 4, 16, 16) first codes
  a = torch::leaky_relu(a, model->options.negative_slope());
  auto& last = *model->dec_bn.back();                      // stands for encoder layer 1's input
  EXPECT_TRUE(torch::allclose(last.weight, a.std({0, 2, 3}), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(last.bias, a.mean({0, 2, 3}), 1e-4, 1e-5));
}
