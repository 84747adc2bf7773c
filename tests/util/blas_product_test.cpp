#include "sparseloop/util/blas_product.h"

#include <gtest/gtest.h>

#include "sparseloop/util/dense_linear.h"

using namespace sparseloop;

// The accumulating product, returned or into a given output, is torch::mm
// bit for bit, over shapes (tiny,
// skinny, K past OpenBLAS's blocking), transposed and contiguous operands,
// float32 and float64; its gradients are autograd's through torch::mm to
// the last bits (the same products; autograd may pick other layouts).
TEST(BlasProduct, EqualsTorchMmBitForBitAndDifferentiates) {
  torch::manual_seed(0);
  struct Shape {
    int64_t n, k, m;
  };
  for (const auto dtype : {torch::kFloat, torch::kDouble})
    for (const Shape s : {Shape{1, 1, 1}, Shape{64, 256, 2048}, Shape{256, 64, 2048},
                          Shape{129, 129, 256}, Shape{3, 1000, 5}, Shape{250, 128, 128}})
      for (const bool ta : {false, true})
        for (const bool tb : {false, true}) {
          auto o = torch::TensorOptions().dtype(dtype);
          auto a = ta ? torch::randn({s.k, s.n}, o).t() : torch::randn({s.n, s.k}, o);
          auto b = tb ? torch::randn({s.m, s.k}, o).t() : torch::randn({s.k, s.m}, o);
          EXPECT_TRUE(torch::equal(blas_mm(a, b), torch::mm(a, b)))
              << s.n << "x" << s.k << "x" << s.m << " " << ta << tb << " " << dtype;
          // Into a given output (bench's peak): the same bits, in that tensor.
          auto out = torch::full({s.n, s.m}, 7.0, o);
          const void* at = out.data_ptr();
          EXPECT_TRUE(torch::equal(blas_mm_out(out, a, b), torch::mm(a, b)));
          EXPECT_EQ(out.data_ptr(), at);
          auto a1 = a.detach().requires_grad_(), b1 = b.detach().requires_grad_();
          auto a2 = a.detach().requires_grad_(), b2 = b.detach().requires_grad_();
          auto up = torch::randn({s.n, s.m}, o);
          (blas_mm(a1, b1) * up).sum().backward();
          (torch::mm(a2, b2) * up).sum().backward();
          const double tol = dtype == torch::kFloat ? 1e-5 : 1e-12;
          EXPECT_LT((a1.grad() - a2.grad()).abs().max().item<double>(),
                    tol * (1 + a2.grad().abs().max().item<double>()));
          EXPECT_LT((b1.grad() - b2.grad()).abs().max().item<double>(),
                    tol * (1 + b2.grad().abs().max().item<double>()));
        }
}

TEST(BlasProduct, AccumulatesOnlyForCpuFloatMatricesWithAnOptimizedBlas) {
  auto a = torch::randn({4, 3}), b = torch::randn({3, 5});
  EXPECT_EQ(blas_mm_accumulates(a, b), optimized_blas_loaded());
  EXPECT_FALSE(blas_mm_accumulates(a.to(torch::kBFloat16), b.to(torch::kBFloat16)));
  EXPECT_FALSE(blas_mm_accumulates(a, b.to(torch::kDouble)));
  EXPECT_FALSE(blas_mm_accumulates(a.unsqueeze(0), b));
  // Elsewhere it is torch::mm, with torch::mm's errors.
  auto bf = blas_mm(a.to(torch::kBFloat16), b.to(torch::kBFloat16));
  EXPECT_TRUE(torch::equal(bf, torch::mm(a.to(torch::kBFloat16), b.to(torch::kBFloat16))));
  EXPECT_THROW(blas_mm(a, torch::randn({4, 5})), c10::Error);
}

// A dictionary used as Wᵀ gets its gradient as a view of a row-major tensor
// of W's shape, as from autograd's mm backward: the later sums of its uses'
// gradients then run on dense, identically laid-out tensors.
TEST(BlasProduct, GradientOfATransposedOperandKeepsItsLayout) {
  auto w = torch::randn({5, 7}).requires_grad_();
  auto x = torch::randn({3, 7}).requires_grad_();
  auto wt = w.t();
  torch::Tensor seen;  // the gradient as the product's backward hands it on
  wt.register_hook([&](const torch::Tensor& g) { seen = g; });
  blas_mm(x, wt).sum().backward();
  ASSERT_TRUE(seen.defined());
  EXPECT_FALSE(seen.is_contiguous());
  EXPECT_TRUE(seen.t().is_contiguous());
  EXPECT_TRUE(x.grad().is_contiguous());
  // ∂/∂W Σ x Wᵀ = 1ᵀ x for every row of W: (5, 7).
  EXPECT_TRUE(torch::allclose(w.grad(), torch::ones({5, 3}).mm(x.detach())));
}
