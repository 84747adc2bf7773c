#include "sparseloop/util/precision.h"

#include <gtest/gtest.h>

#include "sparseloop/util/dense_linear.h"
#include "sparseloop/util/error.h"
#include "support/testing.h"

using namespace sparseloop;
using test_support::relative_error;

TEST(Precision, ParsesItsTwoNamesAndRefusesOthersNamingTheFlag) {
  EXPECT_EQ(parse_precision("fp32"), Precision::kFp32);
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_STREQ(to_string(Precision::kBf16), "bf16");
  EXPECT_STREQ(to_string(Precision::kFp32), "fp32");
  for (const char* bad : {"fp16", "BF16", "", "bfloat16"}) {
    try {
      parse_precision(bad, "--precision");
      ADD_FAILURE() << bad << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--precision"), std::string::npos) << e.what();
    }
  }
}

TEST(Precision, GuardRestoresAndDefaultIsFp32) {
  EXPECT_EQ(compute_precision(), Precision::kFp32);
  {
    PrecisionGuard bf16(Precision::kBf16);
    EXPECT_EQ(compute_precision(), Precision::kBf16);
    {
      PrecisionGuard fp32(Precision::kFp32);
      EXPECT_EQ(compute_precision(), Precision::kFp32);
    }
    EXPECT_EQ(compute_precision(), Precision::kBf16);
  }
  EXPECT_EQ(compute_precision(), Precision::kFp32);
}

// bf16 lowers float32 only: float64 (the gradient checks) and the result's type
// are untouched; the error against float64 is bf16's (8 bits of mantissa: a
// relative rounding of 2⁻⁹ per operand, averaged down by the fp32 sums), and
// non-zero, so the products did run in bf16.
TEST(Precision, DenseLinearAndConvInBf16KeepFp32ResultsWithBf16Error) {
  torch::manual_seed(0);
  auto x = torch::randn({64, 96});
  auto w = torch::randn({48, 96});
  auto b = torch::randn({48});
  auto ref = torch::nn::functional::linear(x.to(torch::kDouble), w.to(torch::kDouble),
                                           b.to(torch::kDouble));
  auto fp32 = dense_linear(x, w, b);
  torch::Tensor bf;
  {
    PrecisionGuard guard(Precision::kBf16);
    bf = dense_linear(x, w, b);
    // float64 is never lowered: identical to the fp32 setting's float64 result.
    auto d = dense_linear(x.to(torch::kDouble), w.to(torch::kDouble), b.to(torch::kDouble));
    EXPECT_EQ(d.scalar_type(), torch::kDouble);
    EXPECT_LT(relative_error(d, ref), 1e-14);
  }
  EXPECT_EQ(bf.scalar_type(), torch::kFloat);
  EXPECT_LT(relative_error(fp32, ref), 1e-6);
  EXPECT_LT(relative_error(bf, ref), 1e-2);
  EXPECT_GT(relative_error(bf, ref), 1e-4);  // it did round to bf16

  auto img = torch::randn({4, 8, 10, 10});
  auto k = torch::randn({16, 8, 3, 3});
  auto cref = torch::conv2d(img.to(torch::kDouble), k.to(torch::kDouble), {}, 1, 1);
  auto c32 = conv2d_in_precision(img, k, {}, 1, 1);
  EXPECT_TRUE(torch::equal(c32, torch::conv2d(img, k, {}, 1, 1)));  // fp32: exactly conv2d
  torch::Tensor c16;
  {
    PrecisionGuard guard(Precision::kBf16);
    c16 = conv2d_in_precision(img, k, {}, 1, 1);
  }
  EXPECT_EQ(c16.scalar_type(), torch::kFloat);
  EXPECT_LT(relative_error(c16, cref), 3e-2);  // 1.0e-2 measured on an AVX2 EPYC (bf16 output)
  EXPECT_GT(relative_error(c16, cref), 1e-4);
}

// A bf16 product accumulates in fp32 on every CPU: natively where the CPU has
// bf16 arithmetic, by widening elsewhere (emulates_bf16), where LibTorch
// 1.13's own bf16 GEMM accumulated in bf16 (errors of 1–2 % at this depth).
// Its error against float64 is then the operands' and the result's rounding.
TEST(Precision, Bf16ProductsAccumulateInFp32OnEveryCpu) {
  torch::manual_seed(4);
  auto a = torch::randn({64, 2048}).to(torch::kBFloat16);
  auto b = torch::randn({2048, 256}).to(torch::kBFloat16);
  auto got = matmul_bf16(a, b);
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  auto ref = torch::matmul(a.to(torch::kDouble), b.to(torch::kDouble));
  EXPECT_LT(relative_error(got, ref), 4e-3);
  EXPECT_EQ(emulates_bf16(a), !cpu_has_native_bf16());
  EXPECT_FALSE(emulates_bf16(a.to(torch::kFloat)));
  if (emulates_bf16(a)) {  // the widened product, rounded once
    EXPECT_TRUE(torch::equal(got, torch::matmul(a.to(torch::kFloat), b.to(torch::kFloat))
                                      .to(torch::kBFloat16)));
  }
}
