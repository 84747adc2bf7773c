// Gradients of a converged LASSO solution by implicit differentiation
// (memory independent of the number of solver steps), instead of
// backpropagating through unrolled iterations.
//
// At z* with support S (z* ≠ 0; z* > 0 when non-negative), the optimality
// conditions read F(z, x, D) = M[Dᵀ(Dz − x) + λ sign z + μz] = 0, M the mask
// of S; off S, z* is locally constant (strict complementarity). For an
// upstream gradient g, solve (M DᵀD M + μM) u = M g by conjugate gradients;
// then ∂ℓ/∂x = D u and ∂ℓ/∂D = −∂/∂D ⟨D u, D z* − x⟩ (u, z*, x held fixed).
// (Implicit function theorem, e.g. Bertrand et al. 2020, "Implicit
// differentiation of Lasso-type models", eq. 8.)
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/conv_dictionary.h"

namespace sparseloop {

struct ImplicitOptions {
  TORCH_ARG(double, mu) = 0.0;
  TORCH_ARG(bool, nonnegative) = false;
  /// Conjugate-gradient iterations (the cap).
  TORCH_ARG(int64_t, cg_iterations) = 50;
  /// Stop when ‖residual‖ ≤ tolerance ‖b‖ for every sample.
  TORCH_ARG(double, cg_tolerance) = 1e-6;
  /// Iterations between two host reads of that test. 0: every iteration on
  /// the CPU, every 4 on a device, where each read is a synchronization
  /// (the extra iterations only refine systems already solved).
  TORCH_ARG(int64_t, cg_check_every) = 0;
};

/// Returns z_star (its values) carrying gradients to x and `dictionary` by
/// implicit differentiation, for a convolutional dictionary with geometry g
/// and signals of size (out_h, out_w). z_star must be the (detached) solution.
torch::Tensor implicit_conv_lasso(const torch::Tensor& z_star, const torch::Tensor& x,
                                  const torch::Tensor& dictionary, const ConvGeometry& g,
                                  const ImplicitOptions& options = {});

/// The same for a linear dictionary (C, d).
torch::Tensor implicit_linear_lasso(const torch::Tensor& z_star, const torch::Tensor& x,
                                    const torch::Tensor& dictionary,
                                    const ImplicitOptions& options = {});

}  // namespace sparseloop
