// FLOPs and bytes of a piece of LibTorch code, counted as it runs (issue 12,
// "count and compare"): every ATen operator call is observed through
// RecordFunction (the hook the profiler uses), on this thread and on the
// autograd engine's work it drives.
//   - FLOPs: 2 × multiply-adds of the convolutions (forward, transposed, and
//     each gradient a convolution_backward computes) and of the matrix
//     products (mm, addmm, addmm_, bmm), and the library's own transposed
//     convolutions and weight gradients (recorded as
//     sparseloop::transposed_conv and sparseloop::conv_weight_gradient; their
//     outputs' bytes are not seen), at whatever depth they run — the ops that
//     carry almost all the arithmetic; elementwise work is not counted.
//   - Bytes: for each outermost operator call (one the code itself made, not
//     one an operator made inside), the bytes of its tensor inputs and
//     outputs, views and allocations excluded: the traffic if every operator
//     streamed its operands once from memory. It is an estimate of memory
//     traffic, not a measurement (cache-resident operands cost less).
//   - Where the time goes: each FLOP-counted call is also timed (CUDA
//     synchronized around it) and grouped by operator and operand shapes, so
//     that a case's JSON names the products that run far below the
//     machine's peak — the ones worth a better primitive.
// With machine_limits.h: floor = max(FLOPs / peak, bytes / bandwidth).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sparseloop {

/// One operator at one set of operand shapes, over every call of a run.
struct ProductTime {
  std::string op;      ///< "aten::convolution_backward", "aten::mm", …
  std::string shapes;  ///< the tensor operands' sizes, "[64, 32, 8, 8] [64, 32, 4, 4]"
  bool bf16 = false;   ///< bfloat16 operands (the bf16 peak applies)
  int64_t calls = 0;
  double ms = 0;       ///< wall time of those calls, counting run included
  double flop = 0;
};

struct OpCounts {
  double flop = 0;
  double bytes = 0;
  int64_t ops = 0;  ///< outermost operator calls
  /// Every FLOP-counted (operator, shapes), most time first.
  std::vector<ProductTime> products;
};

/// Runs fn once and counts its operators.
OpCounts count_ops(const std::function<void()>& fn);

/// The first `top` products as JSON rows {"op", "shapes", "calls", "ms",
/// "gflop", "gflops", "fraction_of_peak"} (the peak of their precision).
nlohmann::json products_json(const std::vector<ProductTime>& products, double fp32_gflops,
                             double bf16_gflops, size_t top = 12);

}  // namespace sparseloop
