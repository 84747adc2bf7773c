#include "sparseloop/util/phase_transposed_conv.h"

#include <gtest/gtest.h>

using namespace sparseloop;

// The phase planes against LibTorch's conv_transpose2d in float64 (output
// padding where the requested size is larger than the natural one), over
// strides, kernels, paddings, signal channels and odd sizes; and float32
// against the same float64 reference at float32's resolution.
TEST(PhaseTransposedConv, EqualsConvTranspose2d) {
  torch::manual_seed(0);
  struct Case {
    int64_t C, M, k, s, p, H, W;
  };
  for (const Case c : {Case{32, 1, 4, 2, 1, 32, 32}, Case{64, 3, 3, 1, 1, 28, 28},
                       Case{8, 2, 4, 2, 1, 33, 31}, Case{5, 1, 3, 2, 0, 15, 16},
                       Case{6, 3, 5, 3, 2, 20, 19}, Case{4, 1, 1, 1, 0, 7, 9}}) {
    const int64_t Hz = (c.H + 2 * c.p - c.k) / c.s + 1, Wz = (c.W + 2 * c.p - c.k) / c.s + 1;
    auto z = torch::randn({3, c.C, Hz, Wz}, torch::kDouble);
    auto w = torch::randn({c.C, c.M, c.k, c.k}, torch::kDouble);
    const int64_t oph = c.H - ((Hz - 1) * c.s - 2 * c.p + c.k);
    const int64_t opw = c.W - ((Wz - 1) * c.s - 2 * c.p + c.k);
    auto ref = torch::conv_transpose2d(z, w, {}, c.s, c.p, {oph, opw});  // (3, M, H, W)
    auto got = transposed_conv_by_phases(z, w, c.s, c.p, c.H, c.W);
    ASSERT_EQ(got.sizes(), ref.sizes());
    EXPECT_LT((got - ref).abs().max().item<double>(), 1e-12) << c.C << " " << c.k << " " << c.s;
    auto got32 = transposed_conv_by_phases(z.to(torch::kFloat), w.to(torch::kFloat), c.s, c.p,
                                           c.H, c.W);
    EXPECT_LT((got32.to(torch::kDouble) - ref).abs().max().item<double>(),
              1e-5 * ref.abs().max().item<double>());
  }
  // Non-contiguous codes are read as their values.
  auto z = torch::randn({2, 16, 16, 4}, torch::kDouble).permute({0, 3, 1, 2});  // (2, 4, 16, 16)
  auto w = torch::randn({4, 1, 4, 4}, torch::kDouble);
  EXPECT_LT((transposed_conv_by_phases(z, w, 2, 1, 32, 32) -
             torch::conv_transpose2d(z, w, {}, 2, 1)).abs().max().item<double>(), 1e-12);
  EXPECT_THROW(transposed_conv_by_phases(z.to(torch::kFloat), w, 2, 1, 32, 32), c10::Error);
}
