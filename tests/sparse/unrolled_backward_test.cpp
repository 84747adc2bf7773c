// The hand-written backward of the unrolled FISTA solve
// (sparse/unrolled_backward.h) against autograd through the plain unrolled
// loop (solve_lasso with tolerance 0), in float64: the codes and the
// gradients in x, the dictionary and the warm start, for convolutional and
// linear dictionaries, signed and non-negative codes, with and without the
// ridge μ and momentum, and for every checkpoint budget (0: every state
// recomputed from z₀). Then its memory: tensor bytes live at the peak of a
// forward+backward (AllocationTracker: exact allocator accounting, not the
// resident set) flat in the number of steps, where autograd's grow with it.
#include "sparseloop/sparse/unrolled_backward.h"

#include <gtest/gtest.h>

#include "sparseloop/sparse/checkpoint_schedule.h"
#include "sparseloop/sparse/csc_conv2d.h"
#include "sparseloop/sparse/csc_linear.h"
#include "sparseloop/sparse/lasso.h"
#include "sparseloop/sparse/linear_dictionary.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/util/allocation_tracker.h"
#include "support/testing.h"

using namespace sparseloop;
using test_support::relative_error;

namespace {

const auto f64 = torch::TensorOptions().dtype(torch::kDouble);

struct Setting {
  bool conv = true;
  bool nonnegative = true;
  double lambda = 0.1, mu = 0.0;
  bool fista = true;
  bool warm = false;  // a warm start z₀ that requires grad
  int64_t steps = 9;
};

struct Grads {
  torch::Tensor z, x, dict, z0;
};

/// A loss with a non-trivial upstream gradient: ⟨w, z⟩ + ½‖z‖².
torch::Tensor loss_of(const torch::Tensor& z, const torch::Tensor& w) {
  return (w * z).sum() + 0.5 * z.pow(2).sum();
}

Grads run(const Setting& s, bool hand_written, int64_t checkpoints) {
  torch::manual_seed(3);
  const ConvGeometry g{1, 1};
  torch::Tensor x = s.conv ? torch::randn({2, 3, 7, 6}, f64) : torch::randn({5, 12}, f64);
  torch::Tensor W = s.conv ? torch::randn({5, 3, 3, 3}, f64) : torch::randn({20, 12}, f64);
  W = W / W.flatten(1).norm(2, 1).view(s.conv ? std::vector<int64_t>{-1, 1, 1, 1}
                                               : std::vector<int64_t>{-1, 1});
  const auto op = s.conv ? conv_operator(W, g, 7, 6) : linear_operator(W);
  const std::vector<int64_t> code_shape =
      s.conv ? std::vector<int64_t>{1, 5, 7, 6} : std::vector<int64_t>{1, 20};
  auto v = power_iteration_start(code_shape, f64);
  const double L = power_iteration(op, v, 500, 1e-12).lipschitz;
  torch::Tensor z0;
  if (s.warm) z0 = torch::relu(op.analysis(x)).mul_(0.1).requires_grad_(true);
  x.requires_grad_(true);
  W.requires_grad_(true);
  const auto prox = ProxOptions().lambda(s.lambda).mu(s.mu).nonnegative(s.nonnegative);
  const double eta = 0.9 / L;
  torch::Tensor z;
  if (hand_written) {
    const auto o = UnrolledOptions()
                       .step(eta)
                       .iterations(s.steps)
                       .momentum(s.fista ? Momentum::kFista : Momentum::kNone)
                       .prox(prox)
                       .checkpoints(checkpoints);
    z = s.conv ? unrolled_conv_lasso(x, W, g, z0, o) : unrolled_linear_lasso(x, W, z0, o);
  } else {
    const auto dop = s.conv ? conv_operator(W, g, 7, 6) : linear_operator(W);
    z = solve_lasso(dop, x, Prox(prox),
                    ProximalGradientOptions().step(eta).iterations(s.steps).momentum(
                        s.fista ? Momentum::kFista : Momentum::kNone),
                    z0)
            .z;
  }
  torch::manual_seed(4);
  auto w = torch::randn(z.sizes(), f64);
  std::vector<torch::Tensor> inputs{x, W};
  if (s.warm) inputs.push_back(z0);
  auto grads = torch::autograd::grad({loss_of(z, w)}, inputs);
  Grads r{z.detach(), grads[0], grads[1], s.warm ? grads[2] : torch::Tensor()};
  return r;
}

void expect_same(const Setting& s, int64_t checkpoints) {
  const Grads ref = run(s, false, 0);
  const Grads got = run(s, true, checkpoints);
  SCOPED_TRACE(::testing::Message() << "conv " << s.conv << " nonneg " << s.nonnegative << " mu "
                                    << s.mu << " fista " << s.fista << " warm " << s.warm
                                    << " steps " << s.steps << " checkpoints " << checkpoints);
  ASSERT_GT(ref.z.ne(0).sum().item<int64_t>(), 0) << "all codes zero: nothing tested";
  ASSERT_GT(ref.z.eq(0).sum().item<int64_t>(), 0) << "no code zero: the masks are not tested";
  EXPECT_LT(relative_error(got.z, ref.z), 1e-13);
  EXPECT_LT(relative_error(got.x, ref.x), 1e-12);
  EXPECT_LT(relative_error(got.dict, ref.dict), 1e-12);
  if (s.warm) {
    EXPECT_LT(relative_error(got.z0, ref.z0), 1e-12);
  }
}

}  // namespace

TEST(UnrolledBackward, MatchesAutogradInFloat64ForEveryCheckpointBudget) {
  for (int64_t checkpoints : {0, 1, 2, 4, 20}) expect_same(Setting{}, checkpoints);
}

TEST(UnrolledBackward, MatchesAutogradForEveryPenaltyAndStart) {
  for (bool conv : {true, false}) {
    for (bool nonneg : {true, false}) {
      Setting s;
      s.conv = conv;
      s.nonnegative = nonneg;
      s.lambda = conv ? 0.1 : 0.3;
      expect_same(s, 3);
      s.mu = 0.5;  // elastic net: the prox's slope 1/(1 + ημ)
      expect_same(s, 3);
      s.mu = 0.0;
      s.warm = true;  // gradient to the warm start too
      expect_same(s, 3);
      s.warm = false;
      s.fista = false;  // ISTA
      expect_same(s, 3);
    }
  }
}

TEST(UnrolledBackward, OneStepAndManySteps) {
  Setting s;
  s.steps = 1;
  expect_same(s, 4);
  s.steps = 40;
  expect_same(s, 3);
}

TEST(UnrolledBackward, CheckpointsBoundTheStoredStates) {
  Setting s;
  s.steps = 30;
  for (int64_t checkpoints : {0, 2, 5}) {
    run(s, true, checkpoints);
    const auto stats = last_unrolled_backward_stats();
    EXPECT_EQ(stats.steps, 30);
    EXPECT_LE(stats.peak_states, checkpoints);
    // The schedule's count of the whole reversal, less the advances the
    // forward already made up to the last state it stored (its first descent).
    const CheckpointSchedule schedule(30, checkpoints);
    int64_t last = 0, free_slots = checkpoints;
    for (int64_t m = schedule.split(30, free_slots); m > 0; m = schedule.split(30 - last, free_slots)) {
      last += m;
      --free_slots;
    }
    EXPECT_EQ(stats.recomputed_steps, schedule.advances(30, checkpoints) - last);
  }
}

// Through the layer: the option changes nothing but the memory.
TEST(UnrolledBackward, CscConv2dOptionGivesAutogradsGradients) {
  for (bool linear : {false, true}) {
    torch::Tensor out[2], gw[2], gx[2];
    for (int hand = 0; hand < 2; ++hand) {
      torch::manual_seed(5);
      auto csc = CscOptions().steps(6).lambda(0.1).nonnegative(true).step_factor(0.9).checkpointed_backward(hand == 1);
      torch::Tensor x, z, weight;
      if (linear) {
        CscLinear layer(CscLinearOptions(12, 16, csc));
        layer->to(torch::kDouble);
        x = torch::randn({4, 12}, f64).requires_grad_(true);
        z = layer->forward(x);
        weight = layer->weight;
      } else {
        CscConv2d layer(CscConv2dOptions(3, 6, 3, csc).padding(1));
        layer->to(torch::kDouble);
        x = torch::randn({2, 3, 8, 8}, f64).requires_grad_(true);
        z = layer->forward(x);
        weight = layer->weight;
      }
      auto probe = torch::randn(z.sizes(), f64);
      loss_of(z, probe).backward();
      out[hand] = z.detach();
      gw[hand] = weight.grad().clone();
      gx[hand] = x.grad().clone();
    }
    EXPECT_LT(relative_error(out[1], out[0]), 1e-13) << "linear " << linear;
    EXPECT_LT(relative_error(gw[1], gw[0]), 1e-12) << "linear " << linear;
    EXPECT_LT(relative_error(gx[1], gx[0]), 1e-12) << "linear " << linear;
  }
}

TEST(UnrolledBackward, OptionNeedsTolerance0AndNoImplicitBackward) {
  EXPECT_THROW(CscConv2d(CscConv2dOptions(1, 2, 3, CscOptions().checkpointed_backward(true).tolerance(1e-3))),
               c10::Error);
  EXPECT_THROW(CscConv2d(CscConv2dOptions(1, 2, 3, CscOptions().checkpointed_backward(true).implicit_backward(true))),
               c10::Error);
}

namespace {

/// Peak tensor bytes of one forward+backward of a CSC layer (the bench's
/// case at a smaller batch), counted by the allocator, after a first forward
/// that fixes L (the power iteration is not what is measured).
int64_t peak_bytes(int64_t steps, bool hand_written) {
  torch::manual_seed(0);
  auto csc = CscOptions()
                 .steps(steps)
                 .lambda(0.1)
                 .nonnegative(true)
                 .step_factor(0.9)
                 .step_refresh(StepRefresh::kOnChange)
                 .checkpointed_backward(hand_written)
                 .checkpoints(2);  // the bench's --checkpoints default: flat within 1.5×
  CscConv2d layer(CscConv2dOptions(16, 16, 3, csc).padding(1));
  auto x = torch::randn({4, 16, 16, 16}).requires_grad_(true);
  {
    torch::NoGradGuard no_grad;
    layer->forward(x);
  }
  AllocationTracker tracker;
  layer->forward(x).sum().backward();
  return tracker.peak_bytes();
}

}  // namespace

// Issue 12's criterion: peak memory at 50 steps ≤ 1.5× that at 2 steps.
TEST(UnrolledBackward, PeakMemoryFlatInSteps) {
  const int64_t hand_2 = peak_bytes(2, true), hand_50 = peak_bytes(50, true);
  const int64_t auto_2 = peak_bytes(2, false), auto_50 = peak_bytes(50, false);
  RecordProperty("hand_2", std::to_string(hand_2));
  RecordProperty("hand_50", std::to_string(hand_50));
  RecordProperty("autograd_2", std::to_string(auto_2));
  RecordProperty("autograd_50", std::to_string(auto_50));
  std::cout << "peak tensor bytes, 2 → 50 steps: checkpointed " << hand_2 << " → " << hand_50
            << ", autograd " << auto_2 << " → " << auto_50 << "\n";
  EXPECT_GT(auto_50, 5 * auto_2) << "the measure does not see autograd's graph";
  EXPECT_LE(static_cast<double>(hand_50), 1.5 * static_cast<double>(hand_2));
  // At 2 steps it may hold a little more than autograd (a stored state and
  // the step computed again while reversing): 4 % here.
  EXPECT_LE(static_cast<double>(hand_2), 1.1 * static_cast<double>(auto_2));
}
