// FLOP and byte counts of bench/op_counter.h on operators whose counts are
// known in closed form.
#include "bench/op_counter.h"

#include "sparseloop/util/channels_last_transposed_conv.h"
#include "sparseloop/util/phase_transposed_conv.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

using namespace sparseloop;

TEST(OpCounter, CountsMatrixProductsAndConvolutions) {
  auto a = torch::randn({32, 64}), b = torch::randn({64, 16});
  auto mm = count_ops([&] { torch::mm(a, b); });
  EXPECT_DOUBLE_EQ(mm.flop, 2.0 * 32 * 64 * 16);
  EXPECT_DOUBLE_EQ(mm.bytes, 4.0 * (32 * 64 + 64 * 16 + 32 * 16));

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
