// bfloat16 values as raw bits, for hand-written loops that read or write
// --precision bf16's tensors (util/precision.h) in the same pass as their
// own arithmetic, instead of a conversion pass before or after them.
#pragma once

#include <cstdint>
#include <cstring>

#include <torch/torch.h>

#include "sparseloop/util/simd.h"

namespace sparseloop {

/// Raw bfloat16: the upper half of a float's bits.
using Bf16Bits = uint16_t;

/// bf16 → float exactly.
SPARSELOOP_ALWAYS_INLINE float from_bf16(Bf16Bits h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// float → bf16 rounded to nearest even, as c10::BFloat16 and
/// Tensor::to(kBFloat16) round (a NaN becomes the quiet NaN 0x7FC0), written
/// on the bits so that the loops around it vectorize.
SPARSELOOP_ALWAYS_INLINE Bf16Bits to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return static_cast<Bf16Bits>(f != f ? 0x7FC0u : rounded);
}

/// A bf16 tensor's elements as their raw bits.
inline Bf16Bits* bf16_bits(const torch::Tensor& t) {
  TORCH_INTERNAL_ASSERT(t.scalar_type() == torch::kBFloat16);
  return reinterpret_cast<Bf16Bits*>(t.data_ptr<at::BFloat16>());
}

}  // namespace sparseloop
