// FLOP and byte counts of bench/op_counter.h on operators whose counts are
// known in closed form.
#include "bench/op_counter.h"

#include "sparseloop/util/blas_product.h"
#include "sparseloop/util/channels_last_transposed_conv.h"
#include "sparseloop/util/patch_weight_gradient.h"
#include "sparseloop/util/phase_transposed_conv.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

using namespace sparseloop;

TEST(OpCounter, CountsMatrixProductsAndConvolutions) {
  auto a = torch::randn({32, 64}), b = torch::randn({64, 16});
  auto mm = count_ops([&] { torch::mm(a, b); });
  EXPECT_DOUBLE_EQ(mm.flop, 2.0 * 32 * 64 * 16);
  EXPECT_DOUBLE_EQ(mm.bytes, 4.0 * (32 * 64 + 64 * 16 + 32 * 16));
  // The library's accumulating product (util/blas_product.h): zeros, addmm_.
  EXPECT_DOUBLE_EQ(count_ops([&] { blas_mm(a, b); }).flop, 2.0 * 32 * 64 * 16);

  auto x = torch::randn({2, 3, 10, 10}), w = torch::randn({8, 3, 3, 3});
  auto conv = count_ops([&] { torch::conv2d(x, w, {}, 1, 1); });  // out (2, 8, 10, 10)
  EXPECT_DOUBLE_EQ(conv.flop, 2.0 * (2 * 8 * 10 * 10) * (3 * 3 * 3));
  EXPECT_EQ(conv.ops, 1);  // conv2d's inner convolution calls are not counted twice

  auto z = torch::randn({2, 8, 10, 10});
  auto tconv = count_ops([&] { torch::conv_transpose2d(z, w, {}, 1, 1); });
  EXPECT_DOUBLE_EQ(tconv.flop, 2.0 * (2 * 8 * 10 * 10) * (3 * 3 * 3));

  auto xg = x.clone().requires_grad_(true), wg = w.clone().requires_grad_(true);
  auto fb = count_ops([&] { torch::conv2d(xg, wg, {}, 1, 1).sum().backward(); });
  EXPECT_DOUBLE_EQ(fb.flop, 3.0 * 2.0 * (2 * 8 * 10 * 10) * (3 * 3 * 3));  // forward, ∂x, ∂w
}

TEST(OpCounter, ViewsMoveNothing) {
  auto a = torch::randn({64, 64});
  auto v = count_ops([&] { a.view({4096}); a.t(); });
  EXPECT_EQ(v.bytes, 0.0);
  auto c = count_ops([&] { a.add_(1.0); });
  EXPECT_DOUBLE_EQ(c.bytes, 2.0 * 64 * 64 * 4);  // read and write
}

// The library's own transposed convolutions count as conv_transpose2d does.
TEST(OpCounter, CountsTheLibrarysTransposedConvolutions) {
  auto z = torch::randn({2, 8, 10, 10}), w = torch::randn({8, 3, 3, 3});
  const double expected = 2.0 * (2 * 8 * 10 * 10) * (3 * 3 * 3);
  EXPECT_DOUBLE_EQ(count_ops([&] { transposed_conv_by_phases(z, w, 1, 1, 10, 10); }).flop, expected);
  auto zc = z.contiguous(at::MemoryFormat::ChannelsLast);
  auto cl = count_ops([&] { transposed_conv_channels_last(zc, w, 1, 1, 10, 10); });
  EXPECT_DOUBLE_EQ(cl.flop, expected);
  EXPECT_EQ(cl.ops, 1);  // its inner operators (the weight's packing) are not counted apart
}

TEST(OpCounter, CountsTheLibrarysWeightGradients) {
  auto g = torch::randn({2, 8, 10, 10}), x = torch::randn({2, 1, 10, 10});
  auto w = torch::empty({8, 1, 3, 3});
  const double expected = 2.0 * (2 * 8 * 10 * 10) * (1 * 3 * 3);
  const OpCounts counts = count_ops([&] { weight_gradient_by_patches(g, x, w, 1, 1); });
  EXPECT_DOUBLE_EQ(counts.flop, expected);
  ASSERT_EQ(counts.products.size(), 1u);
  EXPECT_EQ(counts.products[0].op, "sparseloop::conv_weight_gradient");
  EXPECT_EQ(counts.products[0].calls, 1);
  EXPECT_DOUBLE_EQ(counts.products[0].flop, expected);
  EXPECT_GT(counts.products[0].ms, 0.0);
}

// Where the time goes: every FLOP-counted call grouped by operator and
// operand shapes, most time first, with its calls and FLOPs.
TEST(OpCounter, GroupsProductsByOperatorAndShapes) {
  auto a = torch::randn({64, 32}), b = torch::randn({32, 48});
  auto x = torch::randn({2, 4, 16, 16}), w = torch::randn({8, 4, 3, 3});
  const OpCounts counts = count_ops([&] {
    for (int i = 0; i < 3; ++i) torch::mm(a, b);
    torch::mm(b.t(), a.t());
    torch::conv2d(x, w, {}, 1, 1);
  });
  ASSERT_EQ(counts.products.size(), 3u);
  double total = 0;
  for (size_t i = 0; i < counts.products.size(); ++i) {
    const auto& p = counts.products[i];
    total += p.flop;
    if (i > 0) {
      EXPECT_GE(counts.products[i - 1].ms, p.ms);
    }
    if (p.op == "aten::mm" && p.shapes == "[64, 32] [32, 48]") {
      EXPECT_EQ(p.calls, 3);
      EXPECT_DOUBLE_EQ(p.flop, 3 * 2.0 * 64 * 32 * 48);
    } else if (p.op == "aten::mm") {
      EXPECT_EQ(p.shapes, "[48, 32] [32, 64]");
      EXPECT_EQ(p.calls, 1);
    } else {
      EXPECT_EQ(p.op, "aten::convolution");
      EXPECT_DOUBLE_EQ(p.flop, 2.0 * (2 * 8 * 16 * 16) * (4 * 3 * 3));
    }
  }
  EXPECT_DOUBLE_EQ(total, counts.flop);
  const auto rows = products_json(counts.products, 100.0, 0.0, 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NEAR(rows[0]["fraction_of_peak"].get<double>(), rows[0]["gflops"].get<double>() / 100.0, 1e-12);
}

// A convolution backward's key says which gradients it computed: the
// weight-only and input+weight calls of one shape cost differently.
TEST(OpCounter, ConvolutionBackwardKeysNameTheirGradients) {
  auto x = torch::randn({2, 4, 8, 8}), w = torch::randn({6, 4, 3, 3}).requires_grad_();
  auto xg = x.clone().requires_grad_();
  const OpCounts counts = count_ops([&] {
    torch::conv2d(x, w, {}, 1, 1).sum().backward();   // weight only
    torch::conv2d(xg, w, {}, 1, 1).sum().backward();  // input and weight
  });
  int seen = 0;
  for (const auto& p : counts.products) {
    if (p.op != "aten::convolution_backward") continue;
    const bool both = p.shapes.size() > 13 && p.shapes.substr(p.shapes.size() - 13) == " input+weight";
    const bool weight = p.shapes.size() > 7 && p.shapes.substr(p.shapes.size() - 7) == " weight";
    EXPECT_TRUE(both || weight) << p.shapes;
    EXPECT_DOUBLE_EQ(p.flop, (both ? 2.0 : 1.0) * 2.0 * (2 * 6 * 8 * 8) * (4 * 3 * 3)) << p.shapes;
    ++seen;
  }
  EXPECT_EQ(seen, 2);
}
