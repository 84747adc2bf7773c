#include "sparseloop/util/pending_gradients.h"

#include <ATen/Parallel.h>

#include "sparseloop/util/bf16_bits.h"

namespace sparseloop {
namespace {

// Plain loops over bf16 bits (a shift and an add: no select, so they
// vectorize under GCC's default -ftrapping-math).
SPARSELOOP_SIMD_CLONES void widen_bf16(const Bf16Bits* a, float* out, int64_t begin,
                                       int64_t end) {
  for (int64_t i = begin; i < end; ++i) out[i] = from_bf16(a[i]);
}
SPARSELOOP_SIMD_CLONES void widen_sum_bf16(const Bf16Bits* a, const Bf16Bits* b, float* out,
                                           int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) out[i] = from_bf16(a[i]) + from_bf16(b[i]);
}
SPARSELOOP_SIMD_CLONES void widen_add_bf16(const Bf16Bits* a, float* out, int64_t begin,
                                           int64_t end) {
  for (int64_t i = begin; i < end; ++i) out[i] += from_bf16(a[i]);
}

}  // namespace

torch::Tensor sum_widened(std::vector<torch::Tensor> parts) {
  if (parts.empty()) return {};
  for (const auto& p : parts)
    TORCH_CHECK(p.scalar_type() == torch::kBFloat16 && p.sizes().equals(parts[0].sizes()),
                "sum_widened: expected bf16 tensors of one shape");
  if (!parts[0].device().is_cpu()) {
    auto sum = parts[0].to(torch::kFloat);
    for (size_t j = 1; j < parts.size(); ++j) sum.add_(parts[j]);
    return sum;
  }
  if (!parts[0].is_non_overlapping_and_dense())
    parts[0] = parts[0].contiguous(parts[0].suggest_memory_format());
  const auto like = parts[0];
  for (auto& p : parts)  // the loops below index every buffer alike
    if (!p.strides().equals(like.strides()) || !p.is_non_overlapping_and_dense())
      p = p.contiguous(like.suggest_memory_format());
  auto out = torch::empty_like(like, like.options().dtype(torch::kFloat));  // like parts[0]
  float* o = out.data_ptr<float>();
  std::vector<const Bf16Bits*> src;
  for (const auto& p : parts) src.push_back(bf16_bits(p));
  at::parallel_for(0, out.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    if (src.size() == 1) {
      widen_bf16(src[0], o, b, e);
      return;
    }
    widen_sum_bf16(src[0], src[1], o, b, e);  // a range stays in cache for the next
    for (size_t j = 2; j < src.size(); ++j) widen_add_bf16(src[j], o, b, e);
  });
  return out;
}

torch::Tensor take_pending_sum(const torch::Tensor& own, PendingGradientsList& pending) {
  std::vector<torch::Tensor> parts;
  if (own.defined()) parts.push_back(own);
  for (auto& g : pending.grads) parts.push_back(std::move(g));
  pending.grads.clear();
  return sum_widened(std::move(parts));
}

}  // namespace sparseloop
