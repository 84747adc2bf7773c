#include "sparseloop/util/channels_last_transposed_conv.h"

#include <gtest/gtest.h>

#include <vector>

using namespace sparseloop;

namespace {

/// A dictionary (C, M, k, k) at stride s, padding p, synthesizing (H, W)
/// signals; Hz, Wz: the codes' natural size.
struct SynthesisCase {
  int64_t C, M, k, s, p, H, W;
  int64_t Hz() const { return (H + 2 * p - k) / s + 1; }
  int64_t Wz() const { return (W + 2 * p - k) / s + 1; }
};

}  // namespace

// The channels-last kernel against LibTorch's conv_transpose2d in float64
// (output padding where the requested size is larger than the natural one),
// over strides, kernels, paddings, signal channels, odd sizes and every packed
// width (taps 1, 16, 27, 48, 50, 64); float32 against the same reference at
// float32's resolution; the result channels-last.
TEST(ChannelsLastTransposedConv, EqualsConvTranspose2d) {
  torch::manual_seed(0);
  const auto cl = at::MemoryFormat::ChannelsLast;
  const std::vector<SynthesisCase> cases = {{64, 3, 3, 1, 1, 32, 32}, {32, 1, 4, 2, 1, 32, 32},
      {8, 3, 4, 2, 1, 33, 31}, {5, 2, 5, 3, 2, 20, 19}, {4, 1, 1, 1, 0, 7, 9},
      {7, 4, 4, 1, 2, 9, 10}, {6, 4, 2, 2, 0, 12, 12}, {3, 3, 4, 2, 1, 15, 15}};
  for (const SynthesisCase& c : cases) {
    const int64_t Hz = c.Hz(), Wz = c.Wz();
    auto z = torch::randn({3, c.C, Hz, Wz}, torch::kDouble).contiguous(cl);
    auto w = torch::randn({c.C, c.M, c.k, c.k}, torch::kDouble);
    const int64_t oph = c.H - ((Hz - 1) * c.s - 2 * c.p + c.k);
    const int64_t opw = c.W - ((Wz - 1) * c.s - 2 * c.p + c.k);
    auto ref = torch::conv_transpose2d(z.contiguous(), w, {}, c.s, c.p, {oph, opw});  // (3, M, H, W)
    ASSERT_TRUE(channels_last_transposed_conv_applies(z, w));
    auto got = transposed_conv_channels_last(z, w, c.s, c.p, c.H, c.W);
    ASSERT_EQ(got.sizes(), ref.sizes());
    EXPECT_TRUE(got.is_contiguous(cl)) << c.C << " " << c.k << " " << c.s;
    EXPECT_LT((got - ref).abs().max().item<double>(), 1e-12) << c.C << " " << c.k << " " << c.s;
    auto got32 = transposed_conv_channels_last(z.to(torch::kFloat), w.to(torch::kFloat), c.s,
                                               c.p, c.H, c.W);
    EXPECT_LT((got32.to(torch::kDouble) - ref).abs().max().item<double>(),
              1e-5 * ref.abs().max().item<double>());
  }
  // A smaller output than the natural one is the natural one cropped.
  auto z = torch::randn({2, 6, 8, 8}, torch::kDouble).contiguous(cl);
  auto w = torch::randn({6, 3, 3, 3}, torch::kDouble);
  auto full = torch::conv_transpose2d(z.contiguous(), w, {}, 1, 0);  // (2, 3, 10, 10)
  EXPECT_LT((transposed_conv_channels_last(z, w, 1, 0, 9, 8) -
             full.narrow(2, 0, 9).narrow(3, 0, 8)).abs().max().item<double>(), 1e-12);
}

TEST(ChannelsLastTransposedConv, AppliesOnlyToChannelsLastFewTapCpuCodes) {
  const auto cl = at::MemoryFormat::ChannelsLast;
  auto z = torch::randn({2, 8, 6, 6}).contiguous(cl);
  auto w = torch::randn({8, 3, 3, 3});
  EXPECT_TRUE(channels_last_transposed_conv_applies(z, w));
  EXPECT_FALSE(channels_last_transposed_conv_applies(z.contiguous(), w));             // row-major
  EXPECT_FALSE(channels_last_transposed_conv_applies(z, w.to(torch::kDouble)));       // dtypes
  EXPECT_FALSE(channels_last_transposed_conv_applies(z.to(torch::kBFloat16), w.to(torch::kBFloat16)));
  EXPECT_FALSE(channels_last_transposed_conv_applies(z, torch::randn({8, 3, 5, 5})));  // 75 taps
  // A 1×1 shortcut's 16 signal channels: oneDNN vectorizes along them.
  EXPECT_FALSE(channels_last_transposed_conv_applies(z, torch::randn({8, 16, 1, 1})));
  EXPECT_TRUE(channels_last_transposed_conv_takes(w));
  EXPECT_THROW(transposed_conv_channels_last(z, torch::randn({8, 3, 5, 5}), 1, 2, 6, 6),
               c10::Error);
  EXPECT_THROW(transposed_conv_channels_last(z, torch::randn({4, 3, 3, 3}), 1, 1, 6, 6),
               c10::Error);
}

// The documented order of every output's sum, bit for bit in float32: each
// code pixel's taps summed over the channels in increasing order, then added
// into the output code row by code row, pixel by pixel (util/
// channels_last_transposed_conv.h). Covers the kernel-row runs inside the
// image and the per-tap adds at its edges, every pixel block (16, 32 and 48
// taps, with a remainder) and more images than threads.
TEST(ChannelsLastTransposedConv, SumsInTheDocumentedOrder) {
  torch::manual_seed(1);
  const auto cl = at::MemoryFormat::ChannelsLast;
  const std::vector<SynthesisCase> cases = {{5, 3, 3, 1, 1, 9, 11}, {6, 3, 4, 2, 1, 14, 12},
      {4, 1, 4, 2, 1, 10, 13}, {3, 2, 3, 2, 0, 11, 9}};
  for (const SynthesisCase& c : cases) {
    const int64_t Hz = c.Hz(), Wz = c.Wz();
    auto z = torch::randn({3, c.C, Hz, Wz}).contiguous(cl);
    auto w = torch::randn({c.C, c.M, c.k, c.k});
    auto got = transposed_conv_channels_last(z, w, c.s, c.p, c.H, c.W).contiguous();  // (3, M, H, W)
    auto zc = z.contiguous();
    auto za = zc.accessor<float, 4>();
    auto wa = w.accessor<float, 4>();
    auto ref = torch::zeros({3, c.M, c.H, c.W});
    auto ra = ref.accessor<float, 4>();
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t i = 0; i < Hz; ++i)
        for (int64_t j = 0; j < Wz; ++j)
          for (int64_t kh = 0; kh < c.k; ++kh)
            for (int64_t kw = 0; kw < c.k; ++kw)
              for (int64_t m = 0; m < c.M; ++m) {
                volatile float tap = 0.0f;  // Σ_c in increasing c, no contraction
                for (int64_t ch = 0; ch < c.C; ++ch) {
                  volatile float prod = za[b][ch][i][j] * wa[ch][m][kh][kw];
                  tap = tap + prod;
                }
                const int64_t oh = i * c.s + kh - c.p, ow = j * c.s + kw - c.p;
                if (oh >= 0 && oh < c.H && ow >= 0 && ow < c.W) ra[b][m][oh][ow] += tap;
              }
    EXPECT_TRUE(torch::equal(got, ref)) << c.C << " " << c.M << " " << c.k << " " << c.s
                                        << ": max diff " << (got - ref).abs().max().item<float>();
  }
}
