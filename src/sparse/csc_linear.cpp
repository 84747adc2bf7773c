#include "sparseloop/sparse/csc_linear.h"

#include "sparseloop/sparse/implicit.h"

namespace sparseloop {

CscLinearImpl::CscLinearImpl(CscLinearOptions options_) : options(std::move(options_)) {
  reset();
}

void CscLinearImpl::reset() {
  TORCH_CHECK(options.in_features() > 0 && options.out_features() > 0,
              "CscLinear: feature counts must be positive");
  reset_layer({options.out_features(), options.in_features()});
}

void CscLinearImpl::pretty_print(std::ostream& s) const {
  const auto& c = options.csc();
  s << "sparseloop::CscLinear(" << options.in_features() << ", " << options.out_features()
    << ", lambda=" << c.lambda() << ", steps=" << c.steps()
    << (c.nonnegative() ? ", nonnegative" : "") << (c.normalize_atoms() ? ", unit_atoms" : "")
    << ")";
}

SparseOperator CscLinearImpl::op() const { return linear_operator(dictionary()); }

SparseOperator CscLinearImpl::make_operator(const torch::Tensor& dict, const torch::Tensor&) const {
  return linear_operator(dict);
}

std::vector<int64_t> CscLinearImpl::code_shape(const torch::Tensor&) const {
  return {1, options.out_features()};
}

torch::Tensor CscLinearImpl::implicit(const torch::Tensor& z_star, const torch::Tensor& x,
                                      const torch::Tensor& dict) const {
  const auto& c = options.csc();
  return implicit_linear_lasso(
      z_star, x, dict,
      ImplicitOptions().mu(c.mu()).nonnegative(c.nonnegative()).cg_iterations(c.cg_iterations()));
}

torch::Tensor CscLinearImpl::unrolled(const torch::Tensor& x, const torch::Tensor& dict,
                                      const torch::Tensor& z0, const UnrolledOptions& o) const {
  return unrolled_linear_lasso(x, dict, z0, o);  // (B, C)
}

torch::Tensor CscLinearImpl::forward(const torch::Tensor& x, const torch::Tensor& z0) {
  return code(x, z0, false);
}

torch::Tensor CscLinearImpl::code(const torch::Tensor& x, const torch::Tensor& z0,
                                  bool detach_dictionary) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options.in_features(), "CscLinear: expected input (B, ",
              options.in_features(), "), got shape ", x.sizes());
  return solve(x, z0, detach_dictionary);  // (B, C)
}

torch::Tensor CscLinearImpl::decode(const torch::Tensor& z, bool detach_dictionary) {
  auto dict = dictionary();
  if (detach_dictionary) dict = dict.detach();
  return linear_synthesis(z, dict);  // (B, d)
}

}  // namespace sparseloop
