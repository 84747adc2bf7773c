// FLOPs and bytes of a piece of LibTorch code, counted as it runs (issue 12,
// "count and compare"): every ATen operator call is observed through
// RecordFunction (the hook the profiler uses), on this thread and on the
// autograd engine's work it drives.
//   - FLOPs: 2 × multiply-adds of the convolutions (forward, transposed, and
//     each gradient a convolution_backward computes) and of the matrix
//     products (mm, addmm, bmm), and the library's own transposed
//     convolutions (recorded as sparseloop::transposed_conv; their output's
//     bytes are not seen), at whatever depth they run — the ops that
//     carry almost all the arithmetic; elementwise work is not counted.
//   - Bytes: for each outermost operator call (one the code itself made, not
//     one an operator made inside), the bytes of its tensor inputs and
//     outputs, views and allocations excluded: the traffic if every operator
//     streamed its operands once from memory. It is an estimate of memory
//     traffic, not a measurement (cache-resident operands cost less).
// With machine_limits.h: floor = max(FLOPs / peak, bytes / bandwidth).
#pragma once

#include <cstdint>
#include <functional>

namespace sparseloop {

struct OpCounts {
  double flop = 0;
  double bytes = 0;
  int64_t ops = 0;  ///< outermost operator calls
};

/// Runs fn once and counts its operators.
OpCounts count_ops(const std::function<void()>& fn);

}  // namespace sparseloop
