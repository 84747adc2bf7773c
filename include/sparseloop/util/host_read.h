// Scalars a step needs on the host (a convergence test, a step size, a
// log line), read in one device synchronization. On a GPU each item() waits
// for every kernel queued before it and leaves the device idle while the host
// queues the next ones; reading two or eight scalars that are ready together
// through one copy pays that wait once (the GPU targets: docs/design.md
// §11.6). On the CPU it is item() per value: no extra operator, the same
// numbers.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// The values of one-element tensors (any dtype, any device, shapes () or
/// (1, …)) as doubles, in order; one host copy when any of them is off the
/// CPU. Throws when a tensor is undefined or has more than one element.
std::vector<double> host_read(const std::vector<torch::Tensor>& scalars);

}  // namespace sparseloop
