#include "sparseloop/sparse/csc_linear.h"

#include <cmath>

namespace sparseloop {

CscLinearImpl::CscLinearImpl(CscLinearOptions options_) : options(std::move(options_)) {
  reset();
}

void CscLinearImpl::reset() {
  TORCH_CHECK(options.in_features() > 0 && options.out_features() > 0,
              "CscLinear: feature counts must be positive");
  TORCH_CHECK(options.lambda() >= 0.0, "CscLinear: lambda must be >= 0");
  TORCH_CHECK(options.steps() >= 1, "CscLinear: steps must be >= 1");
  weight = register_parameter("weight",
                              torch::empty({options.out_features(), options.in_features()}));
  power_vector_ = register_buffer("power_vector", torch::zeros({0}));
  lipschitz_ = register_buffer("lipschitz", torch::zeros({}, torch::kDouble));
  reset_parameters();
}

void CscLinearImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));  // Linear's default
  seen_version_ = -1;
}

void CscLinearImpl::pretty_print(std::ostream& s) const {
  s << "sparseloop::CscLinear(" << options.in_features() << ", " << options.out_features()
    << ", lambda=" << options.lambda() << ", steps=" << options.steps()
    << (options.nonnegative() ? ", nonnegative" : "")
    << (options.normalize_atoms() ? ", unit_atoms" : "") << ")";
}

torch::Tensor CscLinearImpl::dictionary() const {
  return options.normalize_atoms() ? normalize_atoms(weight) : weight;
}

SparseOperator CscLinearImpl::op() const { return linear_operator(dictionary()); }

double CscLinearImpl::lipschitz() const { return lipschitz_.item<double>(); }

torch::Tensor CscLinearImpl::forward(const torch::Tensor& x, const torch::Tensor& z0) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options.in_features(), "CscLinear: expected input (B, ",
              options.in_features(), "), got shape ", x.sizes());
  auto dict = dictionary();
  const double L = refresh_lipschitz(
      linear_operator(dict.detach()), weight, {1, options.out_features()},
      LipschitzState{power_vector_, lipschitz_, seen_version_, seen_data_},
      options.step_refresh(), options.power_iterations(), options.initial_power_iterations());
  TORCH_CHECK(L > 0.0 && std::isfinite(L), "CscLinear: dictionary norm is ", L);
  last_step_ = options.step_factor() / L;
  return fista(linear_operator(dict), x, make_prox(options),
               make_fista_options(options, last_step_), z0)
      .z;  // (B, C)
}

torch::Tensor CscLinearImpl::decode(const torch::Tensor& z, bool detach_dictionary) {
  auto dict = dictionary();
  if (detach_dictionary) dict = dict.detach();
  return linear_synthesis(z, dict);  // (B, d)
}

}  // namespace sparseloop
