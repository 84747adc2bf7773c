// A linear sparse coding layer: a drop-in for torch::nn::Linear (no bias)
// whose output is the sparse code of its input under a learned dictionary,
// by unrolled FISTA:  z* = argmin_z ½‖x − Dz‖² + λ‖z‖₁,  Dᵀx = W x.
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/fista.h"
#include "sparseloop/sparse/linear_dictionary.h"
#include "sparseloop/sparse/step_policy.h"

namespace sparseloop {

struct CscLinearOptions {
  CscLinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}

  /// Signal dimension d (Linear's in_features).
  TORCH_ARG(int64_t, in_features);
  /// Number of atoms C (Linear's out_features).
  TORCH_ARG(int64_t, out_features);
  /// ℓ1 weight λ.
  TORCH_ARG(double, lambda) = 0.1;
  /// Elastic-net weight μ.
  TORCH_ARG(double, mu) = 0.0;
  /// Unrolled FISTA iterations (tolerance == 0).
  TORCH_ARG(int64_t, steps) = 2;
  /// Non-negative codes.
  TORCH_ARG(bool, nonnegative) = false;
  /// Rescale every atom W[c] to unit ℓ2 norm before every forward.
  TORCH_ARG(bool, normalize_atoms) = true;
  /// Step η = step_factor / L.
  TORCH_ARG(double, step_factor) = 1.0;
  /// When L is re-estimated.
  TORCH_ARG(StepRefresh, step_refresh) = StepRefresh::kEveryForward;
  /// Warm-started power iterations per refresh.
  TORCH_ARG(int64_t, power_iterations) = 2;
  /// Power iterations on a cold start.
  TORCH_ARG(int64_t, initial_power_iterations) = 100;
  /// FISTA momentum; false gives ISTA.
  TORCH_ARG(bool, momentum) = true;
  /// > 0: iterate each sample until its relative change drops below this.
  TORCH_ARG(double, tolerance) = 0.0;
  /// Cap on iterations when tolerance > 0.
  TORCH_ARG(int64_t, max_steps) = 1000;
};

class CscLinearImpl : public torch::nn::Cloneable<CscLinearImpl> {
 public:
  CscLinearImpl(int64_t in_features, int64_t out_features)
      : CscLinearImpl(CscLinearOptions(in_features, out_features)) {}
  explicit CscLinearImpl(CscLinearOptions options);

  void reset() override;
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// Codes of x: (B, d) → (B, C).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& z0 = {});
  /// Dz: (B, C) → (B, d) with the same dictionary tensor.
  torch::Tensor decode(const torch::Tensor& z, bool detach_dictionary = false);

  torch::Tensor dictionary() const;
  SparseOperator op() const;
  double lipschitz() const;
  double step() const { return last_step_; }

  CscLinearOptions options;
  torch::Tensor weight;  ///< (C, d), Linear layout

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})

 private:
  torch::Tensor power_vector_;
  torch::Tensor lipschitz_;
  int64_t seen_version_ = -1;
  const void* seen_data_ = nullptr;
  double last_step_ = 0.0;
};
TORCH_MODULE(CscLinear);

}  // namespace sparseloop
