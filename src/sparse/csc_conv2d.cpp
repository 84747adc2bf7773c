#include "sparseloop/sparse/csc_conv2d.h"

#include <cmath>

#include "sparseloop/sparse/implicit.h"

namespace sparseloop {

CscConv2dImpl::CscConv2dImpl(CscConv2dOptions options_) : options(std::move(options_)) {
  reset();
}

void CscConv2dImpl::reset() {
  TORCH_CHECK(options.in_channels() > 0 && options.out_channels() > 0 &&
                  options.kernel_size() > 0,
              "CscConv2d: channels and kernel size must be positive");
  TORCH_CHECK(options.lambda() >= 0.0, "CscConv2d: lambda must be >= 0");
  TORCH_CHECK(options.steps() >= 1, "CscConv2d: steps must be >= 1");
  TORCH_CHECK(options.step_factor() > 0.0, "CscConv2d: step_factor must be > 0");
  weight = register_parameter(
      "weight", torch::empty({options.out_channels(), options.in_channels(),
                              options.kernel_size(), options.kernel_size()}));
  // Warm-start state of the power iteration, saved with checkpoints so that a
  // resumed run takes exactly the steps an uninterrupted one would.
  power_vector_ = register_buffer("power_vector", torch::zeros({0}));
  lipschitz_ = register_buffer("lipschitz", torch::zeros({}, torch::kDouble));
  reset_parameters();
}

void CscConv2dImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  // Conv2d's default: Kaiming uniform with a = √5.
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  seen_version_ = -1;
}

void CscConv2dImpl::pretty_print(std::ostream& s) const {
  s << "sparseloop::CscConv2d(" << options.in_channels() << ", " << options.out_channels()
    << ", kernel_size=" << options.kernel_size() << ", stride=" << options.stride()
    << ", padding=" << options.padding() << ", lambda=" << options.lambda()
    << ", steps=" << options.steps() << (options.nonnegative() ? ", nonnegative" : "")
    << (options.normalize_atoms() ? ", unit_atoms" : "") << ")";
}

torch::Tensor CscConv2dImpl::dictionary() const {
  return options.normalize_atoms() ? normalize_atoms(weight) : weight;
}

SparseOperator CscConv2dImpl::op(int64_t out_h, int64_t out_w) const {
  return conv_operator(dictionary(), ConvGeometry{options.stride(), options.padding()}, out_h,
                       out_w);
}

bool CscConv2dImpl::lipschitz_current() const {
  // Host-side checks first: after an optimizer step they fail without reading
  // the (possibly device-resident) L.
  return weight._version() == seen_version_ && weight.data_ptr() == seen_data_ &&
         lipschitz_.item<double>() > 0.0;
}

void CscConv2dImpl::mark_lipschitz_current() {
  seen_version_ = weight._version();
  seen_data_ = weight.data_ptr();
}

double CscConv2dImpl::lipschitz() const {
  return lipschitz_.item<double>();
}

torch::Tensor CscConv2dImpl::forward(const torch::Tensor& x, const torch::Tensor& z0) {
  return code(x, z0, false);
}

torch::Tensor CscConv2dImpl::code(const torch::Tensor& x, const torch::Tensor& z0,
                                  bool detach_dictionary) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels(), "CscConv2d: expected input (B, ",
              options.in_channels(), ", H, W), got shape ", x.sizes());
  const ConvGeometry g{options.stride(), options.padding()};
  const int64_t k = options.kernel_size();
  const int64_t hz = conv_code_size(x.size(2), k, g);
  const int64_t wz = conv_code_size(x.size(3), k, g);
  auto dict = dictionary();
  if (detach_dictionary) dict = dict.detach();
  auto operator_pair = conv_operator(dict, g, x.size(2), x.size(3));
  // L from the dictionary as used, without autograd (a constant, as in SDNet).
  auto detached = conv_operator(dict.detach(), g, x.size(2), x.size(3));
  const double L = refresh_lipschitz(
      detached, weight, {1, options.out_channels(), hz, wz},
      LipschitzState{power_vector_, lipschitz_, seen_version_, seen_data_},
      options.step_refresh(), options.power_iterations(), options.initial_power_iterations(),
      options.power_tolerance(), &last_power_iterations_);
  TORCH_CHECK(L > 0.0 && std::isfinite(L), "CscConv2d: dictionary norm is ", L,
              " (all-zero or non-finite dictionary)");
  last_step_ = options.step_factor() / L;
  if (options.implicit_backward() && torch::GradMode::is_enabled()) {
    torch::Tensor z_star;
    {
      torch::NoGradGuard no_grad;  // the solve keeps no graph
      z_star = fista(detached, x.detach(), make_prox(options),
                     make_fista_options(options, last_step_), z0.defined() ? z0.detach() : z0)
                   .z;
    }
    return implicit_conv_lasso(z_star, x, dict, g,
                               ImplicitOptions()
                                   .mu(options.mu())
                                   .nonnegative(options.nonnegative())
                                   .cg_iterations(options.cg_iterations()));  // (B, C, Hz, Wz)
  }
  auto result = fista(operator_pair, x, make_prox(options), make_fista_options(options, last_step_),
                      z0);
  return result.z;  // (B, C, Hz, Wz)
}

torch::Tensor CscConv2dImpl::decode(const torch::Tensor& z, int64_t out_h, int64_t out_w,
                                    bool detach_dictionary) {
  const ConvGeometry g{options.stride(), options.padding()};
  const int64_t k = options.kernel_size();
  TORCH_CHECK(z.dim() == 4, "CscConv2d::decode: expected codes (B, C, Hz, Wz), got ", z.sizes());
  if (out_h < 0) out_h = conv_natural_size(z.size(2), k, g);
  if (out_w < 0) out_w = conv_natural_size(z.size(3), k, g);
  auto dict = dictionary();
  if (detach_dictionary) dict = dict.detach();
  return conv_synthesis(z, dict, g, out_h, out_w);  // (B, M, H, W)
}

}  // namespace sparseloop
