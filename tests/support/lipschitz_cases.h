// Dictionaries and the step policy that the Lipschitz tests (CPU and GPU)
// share, so that the GPU test replays the CPU's cases as they are.
#pragma once

#include <torch/torch.h>

#include "sparseloop/sparse/lipschitz.h"

namespace sparseloop::test_lipschitz {

/// Each atom (row of the flattened dictionary) scaled to unit norm.
inline torch::Tensor unit_atoms(const torch::Tensor& d) {
  return d / d.flatten(1).norm(2, {1}).view({-1, 1, 1, 1});
}

/// SDNet's step policy (families/sdnet/model.cpp): on-change refreshes of at
/// most 50 warm iterations to 1e-3, a cold restart past a 5 % move.
inline LipschitzPolicy sdnet_policy() {
  LipschitzPolicy p;
  p.refresh = StepRefresh::kOnChange;
  p.power_iterations = 50;
  p.power_tolerance = 1e-3;
  p.restart_threshold = 0.05;
  return p;
}

}  // namespace sparseloop::test_lipschitz
