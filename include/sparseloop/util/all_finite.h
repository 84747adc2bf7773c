// Whether a set of tensors holds only finite numbers: the training loop asks
// it of every parameter and gradient after every step (engine/loop.cpp), so
// that a run that diverged stops before it logs or checkpoints the bad state.
//
// Asked the obvious way — torch::isfinite(t).all() per tensor, stacked, one
// item() — it costs two full passes, a bool tensor allocated per tensor and
// ~4 dispatched ops per parameter: 0.9–4 ms a step here, 1–2 % of ResNet-18's
// and CSC-CTRL's training steps (docs/performance.md, issue 12). A finiteness
// test needs no arithmetic: a float is NaN or ±Inf exactly when its exponent
// bits are all ones, so dense CPU float32/float64 tensors are read once, in
// place, by a vectorized bit test (no library offers that reduction without
// materializing a mask). Every other tensor (CUDA, bf16, strided views) goes
// through isfinite().all() with one synchronization for all of them.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// True when no element of any tensor is NaN, +Inf or -Inf (undefined and
/// empty tensors count as finite).
bool all_finite(const std::vector<torch::Tensor>& tensors);

}  // namespace sparseloop
