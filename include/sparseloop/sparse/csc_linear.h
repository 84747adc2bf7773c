// A linear sparse coding layer: a drop-in for torch::nn::Linear (no bias)
// whose output is the sparse code of its input under a learned dictionary,
// by unrolled FISTA (csc_layer.h):  z* = argmin_z ½‖x − Dz‖² + λ‖z‖₁,
// Dᵀx = W x. Everything but the geometry is CscConv2d's.
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/csc_layer.h"
#include "sparseloop/sparse/linear_dictionary.h"

namespace sparseloop {

struct CscLinearOptions {
  CscLinearOptions(int64_t in_features, int64_t out_features, CscOptions csc = {})
      : in_features_(in_features), out_features_(out_features), csc_(std::move(csc)) {}

  /// Signal dimension d (Linear's in_features).
  TORCH_ARG(int64_t, in_features);
  /// Number of atoms C (Linear's out_features).
  TORCH_ARG(int64_t, out_features);
  /// The sparse-coding settings.
  TORCH_ARG(CscOptions, csc);
};

class CscLinearImpl : public CscLayer<CscLinearImpl> {
 public:
  static constexpr const char* kName = "CscLinear";

  CscLinearImpl(int64_t in_features, int64_t out_features)
      : CscLinearImpl(CscLinearOptions(in_features, out_features)) {}
  explicit CscLinearImpl(CscLinearOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// Codes of x: (B, d) → (B, C), from z₀ = 0 or the warm start `z0`.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& z0 = {});
  /// forward() with the dictionary held constant for autograd when asked.
  torch::Tensor code(const torch::Tensor& x, const torch::Tensor& z0, bool detach_dictionary);
  /// Dz: (B, C) → (B, d) with the same dictionary tensor.
  torch::Tensor decode(const torch::Tensor& z, bool detach_dictionary = false);

  /// {D, Dᵀ} of the current dictionary.
  SparseOperator op() const;

  CscLinearOptions options;

  // CscLayer's hooks.
  CscOptions& csc() { return options.csc(); }
  const CscOptions& csc() const { return options.csc(); }
  SparseOperator make_operator(const torch::Tensor& dict, const torch::Tensor& x) const;
  std::vector<int64_t> code_shape(const torch::Tensor& x) const;
  torch::Tensor implicit(const torch::Tensor& z_star, const torch::Tensor& x,
                         const torch::Tensor& dict) const;
  torch::Tensor unrolled(const torch::Tensor& x, const torch::Tensor& dict, const torch::Tensor& z0,
                         const UnrolledOptions& options) const;

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(CscLinear);

}  // namespace sparseloop
