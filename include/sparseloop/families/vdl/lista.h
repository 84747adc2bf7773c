// LISTA encoder for amortized inference (Gregor & LeCun 2010), in the form
// VDL uses (Evtimova & LeCun 2022, Algorithm 1; the authors' models/lista_encoder.py):
//   u = U y + b,   z = ReLU(u),   then `iterations` times  z = ReLU(u + S z).
// No learned threshold: the bias b plays that role. b starts at 0, U and S
// get PyTorch's default Linear initialisation. It is trained by MSE to the
// FISTA codes (families/vdl/model.h) and gives the codes used for evaluation.
#pragma once

#include <torch/torch.h>

namespace sparseloop {

struct ListaEncoderOptions {
  ListaEncoderOptions(int64_t input_dim, int64_t code_dim)
      : input_dim_(input_dim), code_dim_(code_dim) {}
  /// d: flattened input size (C·H·W).
  TORCH_ARG(int64_t, input_dim);
  /// l: code size.
  TORCH_ARG(int64_t, code_dim);
  /// Refinement steps z = ReLU(u + S z) after the first ReLU (the paper: 3).
  TORCH_ARG(int64_t, iterations) = 3;
};

class ListaEncoderImpl : public torch::nn::Cloneable<ListaEncoderImpl> {
 public:
  explicit ListaEncoderImpl(ListaEncoderOptions options);
  void reset() override;
  /// y (B, d) or (B, C, H, W) → codes (B, l), non-negative.
  torch::Tensor forward(const torch::Tensor& y);

  ListaEncoderOptions options;
  torch::nn::Linear U{nullptr};  ///< "W" in the authors' code: d → l with bias
  torch::nn::Linear S{nullptr};  ///< l → l, no bias
};
TORCH_MODULE(ListaEncoder);

}  // namespace sparseloop
