#include "sparseloop/sparse/conv_dictionary.h"

#include <gtest/gtest.h>

#include "sparseloop/util/precision.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {
auto f64 = torch::TensorOptions().dtype(torch::kDouble);
}

// ⟨Dz, x⟩ = ⟨z, Dᵀx⟩ to 1e-10 in float64 over strides, kernels, paddings and
// odd and even sizes; the fast D equals conv_transpose2d with the
// output_padding rule.
TEST(ConvDictionary, AdjointIdentityAndReferenceAgreement) {
  torch::manual_seed(0);
  int cases = 0;
  for (int64_t stride : {1, 2}) {
    for (int64_t k : {1, 2, 3, 4, 5, 7}) {
      for (int64_t pad : {int64_t(0), int64_t(1), k / 2, k - 1}) {
        for (int64_t size : {7, 8, 9, 12}) {
          if (size + 2 * pad < k) continue;
          ConvGeometry g{stride, pad};
          auto W = torch::randn({5, 3, k, k}, f64);
          auto x = torch::randn({2, 3, size, size + 1}, f64);
          auto dtx = conv_analysis(x, W, g);
          auto z = torch::randn_like(dtx);
          auto dz = conv_synthesis(z, W, g, size, size + 1);
          ASSERT_EQ(dz.sizes(), x.sizes());
          const double lhs = (dz * x).sum().item<double>();
          const double rhs = (z * dtx).sum().item<double>();
          EXPECT_NEAR(lhs, rhs, 1e-10 * std::max(1.0, std::abs(lhs)))
              << "stride " << stride << " k " << k << " pad " << pad << " size " << size;
          auto ref = conv_synthesis_reference(z, W, g, size, size + 1);
          EXPECT_LT((ref - dz).abs().max().item<double>(), 1e-10);
          ++cases;
        }
      }
    }
  }
  EXPECT_GT(cases, 150);
}

TEST(ConvDictionary, FastSynthesisMatchesReferenceInFloat32) {
  torch::manual_seed(1);
  auto W = torch::randn({64, 32, 4, 4});
  ConvGeometry g{2, 1};
  auto z = torch::randn({4, 64, 8, 8});
  auto fast = conv_synthesis(z, W, g, 16, 16);
  auto ref = conv_synthesis_reference(z, W, g, 16, 16);
  EXPECT_LT(((fast - ref).abs().max() / ref.abs().max()).item<double>(), 1e-5);
}

// The autograd rule of the fast D: float64 finite differences in z and W,
// and agreement with autograd through conv_transpose2d.
TEST(ConvDictionary, SynthesisGradientsMatchFiniteDifferences) {
  torch::manual_seed(2);
  for (int64_t stride : {1, 2}) {
    ConvGeometry g{stride, 1};
    auto W = torch::randn({4, 2, 3, 3}, f64);
    auto z = torch::randn({2, 4, 4, 4}, f64);
    const int64_t H = (4 - 1) * stride - 2 + 3 + (stride - 1);
    auto probe = torch::randn({2, 2, H, H}, f64);
    auto in_z = [&](const torch::Tensor& zz) { return (conv_synthesis(zz, W, g, H, H) * probe).sum(); };
    auto in_w = [&](const torch::Tensor& ww) { return (conv_synthesis(z, ww, g, H, H) * probe).sum(); };
    EXPECT_LT(ts::gradcheck_error(in_z, z), 1e-7);
    EXPECT_LT(ts::gradcheck_error(in_w, W), 1e-7);
    // Same gradients as autograd through conv_transpose2d.
    auto w1 = W.clone().requires_grad_(true), w2 = W.clone().requires_grad_(true);
    auto z1 = z.clone().requires_grad_(true), z2 = z.clone().requires_grad_(true);
    (conv_synthesis(z1, w1, g, H, H) * probe).sum().backward();
    (conv_synthesis_reference(z2, w2, g, H, H) * probe).sum().backward();
    EXPECT_LT((w1.grad() - w2.grad()).abs().max().item<double>(), 1e-10);
    EXPECT_LT((z1.grad() - z2.grad()).abs().max().item<double>(), 1e-10);
  }
}

TEST(ConvDictionary, RejectsUnrepresentableSizes) {
  auto W = torch::randn({4, 2, 5, 5});
  ConvGeometry g{1, 0};
  EXPECT_THROW(conv_analysis(torch::randn({1, 2, 3, 3}), W, g), c10::Error);      // < kernel
  EXPECT_THROW(conv_analysis(torch::randn({1, 3, 8, 8}), W, g), c10::Error);      // channels
  auto z = torch::randn({1, 4, 4, 4});
  EXPECT_THROW(conv_synthesis(z, W, g, 10, 8), c10::Error);  // 10 → 6 codes, not 4
  EXPECT_NO_THROW(conv_synthesis(z, W, g, 8, 8));
  EXPECT_EQ(conv_code_size(32, 4, ConvGeometry{2, 1}), 16);
  EXPECT_EQ(conv_natural_size(16, 4, ConvGeometry{2, 1}), 32);
}

TEST(ConvDictionary, OperatorPairIsAdjointOnOddSizesWithStride) {
  torch::manual_seed(3);
  auto W = torch::randn({6, 1, 4, 4}, f64);
  auto op = conv_operator(W, ConvGeometry{2, 1}, 11, 11);  // (11 + 2 − 4) mod 2 = 1
  auto x = torch::randn({3, 1, 11, 11}, f64);
  auto dtx = op.analysis(x);
  auto z = torch::randn_like(dtx);
  EXPECT_NEAR((op.synthesis(z) * x).sum().item<double>(), (z * dtx).sum().item<double>(), 1e-10);
}

// Under --precision bf16 an operator with few signal channels (M·k² ≤ 64,
// ATen's transposed convolution) stays fp32: exactly the fp32 results; a wider
// one does round to bf16 (docs/performance.md, "One dictionary per objective").
TEST(ConvDictionary, FewSignalChannelsStayFp32UnderBf16) {
  torch::manual_seed(3);
  const ConvGeometry g{2, 1};
  auto w = torch::randn({32, 1, 4, 4});    // (C, M, k, k): M·k² = 16
  auto x = torch::randn({8, 1, 32, 32});   // (B, M, H, W)
  auto z = torch::randn({8, 32, 16, 16});  // (B, C, Hz, Wz)
  if (!conv_few_signal_channels(w, x)) GTEST_SKIP() << "no AVX-512 or no optimized BLAS here";
  const auto a32 = conv_analysis(x, w, g);
  const auto s32 = conv_synthesis(z, w, g, 32, 32);
  auto wide = torch::randn({32, 8, 4, 4});  // M·k² = 128: lowered
  auto xw = torch::randn({8, 8, 32, 32});
  EXPECT_FALSE(conv_few_signal_channels(wide, xw));
  const auto w32 = conv_analysis(xw, wide, g);
  PrecisionGuard bf16(Precision::kBf16);
  EXPECT_TRUE(torch::equal(conv_analysis(x, w, g), a32));
  EXPECT_TRUE(torch::equal(conv_synthesis(z, w, g, 32, 32), s32));
  const auto w16 = conv_analysis(xw, wide, g);
  EXPECT_EQ(w16.scalar_type(), torch::kFloat);
  EXPECT_GT(test_support::relative_error(w16, w32), 1e-4);  // bf16 did run
}

// Batch-1 products without autograd (the estimates of L) take oneDNN's
// forward convolution, D at stride 1 as the flipped, transposed dictionary:
// the same values as the products with autograd on (ATen's route), float32
// to 1e-6, over kernels, paddings, strides and odd sizes; the pair stays
// adjoint.
TEST(ConvDictionary, BatchOneProductsWithoutAutogradEqualTheAutogradRoute) {
  torch::manual_seed(8);
  for (int64_t stride : {1, 2}) {
    for (int64_t k : {3, 4, 5}) {
      for (int64_t pad : {int64_t(0), int64_t(1), k - 1}) {
        for (auto [C, M, size] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
                 {16, 16, 11}, {32, 8, 8}, {8, 32, 9}}) {
          const ConvGeometry g{stride, pad};
          const auto w = torch::randn({C, M, k, k});  // (C, M, k, k): not few-channel
          const auto op = conv_operator(w, g, size, size);
          const int64_t hz = conv_code_size(size, k, g);
          const auto z = torch::randn({1, C, hz, hz});
          const auto x = torch::randn({1, M, size, size});
          torch::Tensor dz, dtx, dz_ref, dtx_ref;
          {
            torch::NoGradGuard no_grad;  // the batch-1 route
            dz = op.synthesis(z);
            dtx = op.analysis(x);
          }
          dz_ref = op.synthesis(z);  // autograd on: conv_synthesis, conv_analysis
          dtx_ref = op.analysis(x);
          const std::string where = "s " + std::to_string(stride) + " k " + std::to_string(k) +
                                    " p " + std::to_string(pad) + " C " + std::to_string(C);
          ASSERT_EQ(dz.sizes(), dz_ref.sizes()) << where;
          EXPECT_LT(test_support::relative_error(dz, dz_ref), 1e-6) << where;
          EXPECT_LT(test_support::relative_error(dtx, dtx_ref), 1e-6) << where;
          const double lhs = (dz * x).sum().item<double>(), rhs = (z * dtx).sum().item<double>();
          EXPECT_NEAR(lhs, rhs, 1e-4 * std::abs(lhs) + 1e-3) << where;
        }
      }
    }
  }
}

// Dᵀ on the few-signal-channel route (1 and 3 channels, k3 and k4, strides 1
// and 2, paddings 0 to 2, odd sizes) differentiates as conv2d does: its input
// gradient by the phase planes, its weight gradient by ATen, both equal to
// float64 autograd through conv2d.
TEST(ConvDictionary, FewSignalChannelAnalysisGradientsMatchFloat64) {
  torch::manual_seed(8);
  int cases = 0;
  for (int64_t M : {1, 3}) {
    for (int64_t k : {3, 4}) {
      for (int64_t stride : {1, 2}) {
        for (int64_t padding : {0, 1, 2}) {
          const ConvGeometry g{stride, padding};
          auto x0 = torch::randn({3, M, 11, 13});
          auto w0 = torch::randn({8, M, k, k});
          auto x = x0.clone().requires_grad_();
          auto w = w0.clone().requires_grad_();
          auto y = conv_analysis(x, w, g);  // (3, 8, Hz, Wz)
          auto up = torch::randn_like(y);
          (y * up).sum().backward();
          auto xd = x0.to(torch::kDouble).requires_grad_();
          auto wd = w0.to(torch::kDouble).requires_grad_();
          auto yd = torch::conv2d(xd, wd, {}, stride, padding);
          ASSERT_EQ(yd.sizes(), y.sizes());
          (yd * up.to(torch::kDouble)).sum().backward();
          const std::string where = "M " + std::to_string(M) + " k " + std::to_string(k) +
                                    " s " + std::to_string(stride) + " p " +
                                    std::to_string(padding);
          EXPECT_LT(test_support::relative_error(y, yd), 1e-5) << where;
          EXPECT_LT(test_support::relative_error(x.grad(), xd.grad()), 1e-5) << where;
          EXPECT_LT(test_support::relative_error(w.grad(), wd.grad()), 1e-5) << where;
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 24);
}
