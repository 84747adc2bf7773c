#include "sparseloop/families/vdl/lista.h"

#include "sparseloop/util/dense_linear.h"

namespace sparseloop {

ListaEncoderImpl::ListaEncoderImpl(ListaEncoderOptions options_) : options(options_) { reset(); }

void ListaEncoderImpl::reset() {
  TORCH_CHECK(options.input_dim() > 0 && options.code_dim() > 0,
              "ListaEncoder: input_dim and code_dim must be positive, got ", options.input_dim(),
              " and ", options.code_dim());
  TORCH_CHECK(options.iterations() >= 0, "ListaEncoder: iterations must be >= 0");
  U = register_module("U", torch::nn::Linear(torch::nn::LinearOptions(options.input_dim(),
                                                                       options.code_dim())));
  S = register_module("S", torch::nn::Linear(torch::nn::LinearOptions(options.code_dim(),
                                                                       options.code_dim())
                                                 .bias(false)));
  torch::NoGradGuard no_grad;
  U->bias.zero_();  // the authors initialise the bias to 0
}

torch::Tensor ListaEncoderImpl::forward(const torch::Tensor& y) {
  auto flat = y.reshape({y.size(0), -1});  // (B, d)
  TORCH_CHECK(flat.size(1) == options.input_dim(), "ListaEncoder: expected inputs of ",
              options.input_dim(), " values, got shape ", y.sizes());
  auto u = dense_linear(flat, U->weight, U->bias);  // (B, d) → (B, l)
  auto z = torch::relu(u);
  for (int64_t k = 0; k < options.iterations(); ++k) z = torch::relu(u + dense_linear(z, S->weight));
  return z;
}

}  // namespace sparseloop
