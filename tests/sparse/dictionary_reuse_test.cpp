#include "sparseloop/sparse/dictionary_reuse.h"

#include <gtest/gtest.h>

#include "sparseloop/sparse/csc_conv2d.h"
#include "sparseloop/util/precision.h"
#include "support/testing.h"

using namespace sparseloop;
using test_support::relative_error;

namespace {
auto f64 = torch::TensorOptions().dtype(torch::kDouble);

/// CSC-CTRL's use of one layer in an objective: z = f(x), x̂ = g(z), ẑ = f(x̂).
torch::Tensor round_trip_loss(CscConv2d& layer, const torch::Tensor& x) {
  auto z = layer->forward(x);                 // (B, C, Hz, Wz)
  auto xh = layer->decode(z, x.size(2), x.size(3));  // like x
  auto zh = layer->forward(xh);               // (B, C, Hz, Wz)
  return (z * zh).sum() + zh.pow(2).sum();
}
}  // namespace

// One normalized dictionary per scope (the same tensor for every use), a new
// one in the next scope, and one per use outside any.
TEST(DictionaryReuse, OneDictionaryPerScope) {
  CscConv2d layer(CscConv2dOptions(2, 4, 3).padding(1));
  EXPECT_EQ(DictionaryReuse::generation(), 0u);
  EXPECT_FALSE(layer->dictionary().is_same(layer->dictionary()));
  torch::Tensor first;
  {
    DictionaryReuse once;
    EXPECT_NE(DictionaryReuse::generation(), 0u);
    first = layer->dictionary();
    EXPECT_TRUE(first.is_same(layer->dictionary()));
    {
      DictionaryReuse nested;  // one scope
      EXPECT_TRUE(first.is_same(layer->dictionary()));
    }
    EXPECT_TRUE(first.is_same(layer->dictionary()));
  }
  EXPECT_EQ(DictionaryReuse::generation(), 0u);
  DictionaryReuse next;
  EXPECT_FALSE(first.is_same(layer->dictionary()));
}

// Made without a graph first, the dictionary is made again when one is wanted;
// made with one, a no-grad use gets it detached.
TEST(DictionaryReuse, GraphOnlyWhenWanted) {
  CscConv2d layer(CscConv2dOptions(2, 4, 3).padding(1));
  DictionaryReuse once;
  torch::Tensor plain;
  {
    torch::NoGradGuard no_grad;
    plain = layer->dictionary();
  }
  EXPECT_FALSE(plain.requires_grad());
  auto graph = layer->dictionary();
  EXPECT_TRUE(graph.requires_grad());
  torch::NoGradGuard no_grad;
  auto again = layer->dictionary();
  EXPECT_FALSE(again.requires_grad());
  EXPECT_TRUE(torch::equal(again, graph.detach()));
}

// Codes and gradients of an objective using a layer three times are the same
// with the scope as without (float64: the same operations, once). On-change
// refresh: L stands still from the first forward on (every-forward moves it
// at each forward, scope or not).
TEST(DictionaryReuse, SameValueAndGradientsAsWithoutFloat64) {
  torch::manual_seed(11);
  CscConv2d layer(
      CscConv2dOptions(3, 6, 4, CscOptions().steps(3).step_refresh(StepRefresh::kOnChange))
          .stride(2)
          .padding(1));
  layer->to(torch::kDouble);
  auto x = torch::randn({2, 3, 10, 10}, f64).requires_grad_();
  {
    auto plain = round_trip_loss(layer, x);
    plain.backward();
    const auto gw = layer->weight.grad().clone(), gx = x.grad().clone();
    layer->weight.mutable_grad().zero_();
    x.mutable_grad().zero_();
    torch::Tensor reused;
    {
      DictionaryReuse once;
      reused = round_trip_loss(layer, x);
    }
    reused.backward();
    EXPECT_LT(std::abs(reused.item<double>() - plain.item<double>()),
              1e-12 * std::abs(plain.item<double>()));
    EXPECT_GT(gw.abs().max().item<double>(), 0.0);
    EXPECT_LT(relative_error(layer->weight.grad(), gw), 1e-12);
    EXPECT_LT(relative_error(x.grad(), gx), 1e-12);
  }
}

// On-change: L is verified once per scope and code shape (no comparison, no
// iteration after that), and a change between scopes is still seen.
// Every-forward refreshes at every solve, scope or not.
TEST(DictionaryReuse, LipschitzVerifiedOncePerScope) {
  torch::manual_seed(12);
  CscConv2d layer(CscConv2dOptions(2, 6, 3, CscOptions().step_refresh(StepRefresh::kOnChange))
                      .padding(1));
  auto x = torch::randn({2, 2, 8, 8});
  {
    DictionaryReuse once;
    layer->forward(x);
    EXPECT_GT(layer->last_power_iterations(), 0);  // the first estimate
    const double L = layer->lipschitz();
    layer->forward(x);
    EXPECT_EQ(layer->last_power_iterations(), 0);
    EXPECT_EQ(layer->lipschitz(), L);
    layer->forward(torch::randn({2, 2, 6, 6}));  // another code shape: estimated
    EXPECT_GT(layer->last_power_iterations(), 0);
  }
  {
    torch::NoGradGuard g;
    layer->weight.add_(torch::randn_like(layer->weight));
  }
  {
    DictionaryReuse once;
    layer->forward(x);
    EXPECT_GT(layer->last_power_iterations(), 0);  // the change between scopes
    layer->forward(x);
    EXPECT_EQ(layer->last_power_iterations(), 0);
  }
  layer->options.csc().step_refresh(StepRefresh::kEveryForward);
  DictionaryReuse once;
  layer->forward(x);
  layer->forward(x);
  EXPECT_GT(layer->last_power_iterations(), 0);
}

// --precision bf16: inside a scope a dictionary is converted to bf16 once and
// shared by its uses (one storage), each use with its own edge back to the
// float32 weight, so the gradient is the per-use conversions' (bf16-rounded
// upstream gradients summed in float32), bit for bit; outside a scope, a
// conversion per use. Nothing lowers in fp32.
TEST(DictionaryReuse, OneBf16DictionaryPerScope) {
  torch::manual_seed(13);
  auto w = torch::randn({4, 3, 3, 3}).requires_grad_();
  auto a = torch::randn({4, 3, 3, 3}), b = torch::randn({4, 3, 3, 3});
  EXPECT_EQ(lowered_dictionary(w).scalar_type(), torch::kFloat);
  PrecisionGuard bf16(Precision::kBf16);
  auto loss = [&](const torch::Tensor& u, const torch::Tensor& v) {
    return (u.to(torch::kFloat) * a).sum() + (v.to(torch::kFloat) * b).sum();
  };
  auto u = lowered_dictionary(w), v = lowered_dictionary(w);
  EXPECT_NE(u.data_ptr(), v.data_ptr());  // no scope: one conversion per use
  loss(u, v).backward();
  const auto per_use = w.grad().clone();
  w.mutable_grad().zero_();
  {
    DictionaryReuse once;
    auto su = lowered_dictionary(w), sv = lowered_dictionary(w);
    EXPECT_EQ(su.data_ptr(), sv.data_ptr());
    EXPECT_FALSE(su.is_same(sv));
    EXPECT_EQ(su.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::equal(su, w.detach().to(torch::kBFloat16)));
    EXPECT_EQ(lowered_dictionary(w.detach()).data_ptr(), su.data_ptr());  // a detached use
    EXPECT_FALSE(lowered_dictionary(w.detach()).requires_grad());
    loss(su, sv).backward();
    // A dictionary changed in place (its version moved) is converted again.
    auto moved = torch::randn({4, 3, 3, 3});
    {
      torch::NoGradGuard no_grad;
      w.copy_(moved);
    }
    EXPECT_TRUE(torch::equal(lowered_dictionary(w.detach()), moved.to(torch::kBFloat16)));
  }
  EXPECT_TRUE(torch::equal(w.grad(), per_use));
  EXPECT_TRUE(torch::equal(per_use, a.to(torch::kBFloat16).to(torch::kFloat) +
                                        b.to(torch::kBFloat16).to(torch::kFloat)));
}

// The shared bf16 copy's gradient is one float32 sum over its uses, taken by
// one node when the last use's backward has run: three uses give the per-use
// conversions' gradient; a backward pass that does not reach the dictionary
// leaves nothing behind for the next one on the retained graph; a dictionary
// made by another graph (a view of the same storage) gets its own node.
TEST(DictionaryReuse, SharedBf16CopyGradientIsOneSumOverItsUses) {
  torch::manual_seed(14);
  auto w = torch::randn({4, 3, 3, 3}).requires_grad_();
  auto s = torch::randn({5}).requires_grad_();
  std::vector<torch::Tensor> up{torch::randn({4, 3, 3, 3}), torch::randn({4, 3, 3, 3}),
                                torch::randn({4, 3, 3, 3})};
  PrecisionGuard bf16(Precision::kBf16);
  auto loss = [&](const std::vector<torch::Tensor>& uses) {
    auto l = (s * s).sum();  // a part that does not reach the dictionary
    for (size_t i = 0; i < uses.size(); ++i) l = l + (uses[i].to(torch::kFloat) * up[i]).sum();
    return l;
  };
  loss({lowered_dictionary(w), lowered_dictionary(w), lowered_dictionary(w)}).backward();
  const auto per_use = w.grad().clone();
  w.mutable_grad().zero_();
  {
    DictionaryReuse once;
    auto l = loss({lowered_dictionary(w), lowered_dictionary(w), lowered_dictionary(w)});
    auto only_s = torch::autograd::grad({l}, {s}, {}, /*retain_graph=*/true)[0];
    EXPECT_TRUE(torch::allclose(only_s, 2 * s.detach()));
    l.backward();
    EXPECT_LT((w.grad() - per_use).abs().max().item<double>(),
              1e-6 * per_use.abs().max().item<double>());
    w.mutable_grad().zero_();
    // A view shares storage and version but not the graph: its own node.
    auto view = w.view_as(w);
    loss({lowered_dictionary(view), lowered_dictionary(w), lowered_dictionary(view)}).backward();
    EXPECT_LT((w.grad() - per_use).abs().max().item<double>(),
              1e-6 * per_use.abs().max().item<double>());
  }
}
