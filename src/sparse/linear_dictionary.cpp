#include "sparseloop/sparse/linear_dictionary.h"

#include "sparseloop/util/precision.h"
#include "sparseloop/util/blas_product.h"

namespace sparseloop {

static void check_linear_weight(const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 2, "linear dictionary: weight must be (C, d), got shape ",
              weight.sizes());
}

torch::Tensor linear_analysis(const torch::Tensor& x, const torch::Tensor& weight) {
  check_linear_weight(weight);
  TORCH_CHECK(x.dim() == 2 && x.size(1) == weight.size(1), "linear dictionary: input must be (B, ",
              weight.size(1), "), got shape ", x.sizes());
  if (lowers(x))  // bf16 operands, fp32 result (util/precision.h)
    return matmul_bf16(lowered(x), lowered(weight).t()).to(x.scalar_type());  // (B, C)
  return blas_mm(x, weight.t());  // (B, C)
}

torch::Tensor linear_synthesis(const torch::Tensor& z, const torch::Tensor& weight) {
  check_linear_weight(weight);
  TORCH_CHECK(z.dim() == 2 && z.size(1) == weight.size(0), "linear dictionary: codes must be (B, ",
              weight.size(0), "), got shape ", z.sizes());
  if (lowers(z))  // bf16 operands, fp32 result (util/precision.h)
    return matmul_bf16(lowered(z), lowered(weight)).to(z.scalar_type());  // (B, d)
  return blas_mm(z, weight);  // (B, d)
}

torch::Tensor linear_analysis_weight_gradient(const torch::Tensor& a, const torch::Tensor& b) {
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(0) == b.size(0),
              "linear dictionary: expected (B, C) and (B, d), got ", a.sizes(), " and ", b.sizes());
  if (lowers(a)) return matmul_bf16(lowered(a).t(), lowered(b)).to(a.scalar_type());  // (C, d)
  return blas_mm(a.t(), b);  // (C, d)
}

SparseOperator linear_operator(const torch::Tensor& weight) {
  SparseOperator op;
  op.synthesis = [weight](const torch::Tensor& z) { return linear_synthesis(z, weight); };
  op.analysis = [weight](const torch::Tensor& x) { return linear_analysis(x, weight); };
  return op;
}

}  // namespace sparseloop
