#include "sparseloop/util/all_finite.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "sparseloop/util/simd.h"

namespace sparseloop {
namespace {

// A float is NaN or ±Inf exactly when its exponent field is all ones; adding
// the exponent's lowest bit to the masked field then carries into the sign
// bit, and only then. So one AND, one ADD and one OR per element, in a
// fixed-width inner loop of independent lanes that the compiler vectorizes
// without reassociating anything (plain integer ops: exact, no FP exceptions
// on signalling NaNs, no dependence on the rounding mode).
template <typename Bits>
SPARSELOOP_ALWAYS_INLINE bool exponent_never_saturated(const void* data, int64_t n) {
  // float: exponent 0x7f800000, its lowest bit 0x00800000; double:
  // 0x7ff0000000000000 and 0x0010000000000000.
  constexpr bool kSingle = sizeof(Bits) == 4;
  constexpr Bits kExponent = kSingle ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
  constexpr Bits kExponentLsb = kSingle ? Bits(0x00800000u) : Bits(0x0010000000000000ull);
  constexpr Bits kSign = Bits(1) << (8 * sizeof(Bits) - 1);
  constexpr int64_t kLanes = 64 / sizeof(Bits);  // one 512-bit vector
  constexpr int64_t kBlock = 4096;               // elements between early exits
  typedef Bits __attribute__((may_alias)) AliasedBits;
  const auto* x = static_cast<const AliasedBits*>(data);
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t end = std::min(n, start + kBlock);
    Bits carry[kLanes] = {};
    int64_t i = start;
    for (; i + kLanes <= end; i += kLanes)
      for (int64_t j = 0; j < kLanes; ++j) carry[j] |= (x[i + j] & kExponent) + kExponentLsb;
    for (; i < end; ++i) carry[0] |= (x[i] & kExponent) + kExponentLsb;
    Bits any = 0;
    for (int64_t j = 0; j < kLanes; ++j) any |= carry[j];
    if (any & kSign) return false;
  }
  return true;
}

SPARSELOOP_SIMD_CLONES bool finite_float_span(const float* x, int64_t n) {
  return exponent_never_saturated<uint32_t>(x, n);
}

SPARSELOOP_SIMD_CLONES bool finite_double_span(const double* x, int64_t n) {
  return exponent_never_saturated<uint64_t>(x, n);
}

bool finite_span(const torch::Tensor& t, int64_t begin, int64_t end) {
  if (t.scalar_type() == torch::kFloat)
    return finite_float_span(t.data_ptr<float>() + begin, end - begin);
  return finite_double_span(t.data_ptr<double>() + begin, end - begin);
}

// Dense: its elements fill [data_ptr, data_ptr + numel) in some order
// (contiguous, channels-last, any permutation), which is all a test over
// every element needs.
bool scanned_in_place(const torch::Tensor& t) {
  return t.device().is_cpu() && t.layout() == torch::kStrided &&
         (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble) &&
         t.is_non_overlapping_and_dense();
}

}  // namespace

bool all_finite(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flags;
  for (const auto& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    if (!scanned_in_place(t)) {
      flags.push_back(torch::isfinite(t).all());
      continue;
    }
    // A large tensor (a ResNet's 3×3 weights and their gradients) split
    // over the intra-op threads; the parameters of these models are mostly
    // smaller than one grain and read serially.
    constexpr int64_t kGrain = int64_t(1) << 16;
    std::atomic<bool> finite{true};
    at::parallel_for(0, t.numel(), kGrain, [&](int64_t begin, int64_t end) {
      if (finite.load(std::memory_order_relaxed) && !finite_span(t, begin, end))
        finite.store(false, std::memory_order_relaxed);
    });
    if (!finite.load()) return false;
  }
  return flags.empty() || torch::stack(flags).all().item<bool>();
}

}  // namespace sparseloop
