#include "sparseloop/sparse/dictionary_reuse.h"

#include <atomic>
#include <utility>
#include <vector>

#include "sparseloop/util/precision.h"

namespace sparseloop {
namespace {

std::atomic<uint64_t> g_next{1};     // scope numbers, never reused
thread_local uint64_t t_open = 0;    // this thread's open scope (0: none)
thread_local int t_depth = 0;

void clear_lowered_copies();  // below, with the copies

}  // namespace

DictionaryReuse::DictionaryReuse() {
  if (t_depth++ == 0) t_open = g_next.fetch_add(1, std::memory_order_relaxed);
}

DictionaryReuse::~DictionaryReuse() {
  if (--t_depth == 0) {
    t_open = 0;
    clear_lowered_copies();
  }
}

uint64_t DictionaryReuse::generation() { return t_open; }

namespace {

/// The scope's bf16 copies: (the dictionary, its copy), keyed by storage and
/// shape so that a detached use finds its dictionary's copy. The key tensor
/// is held, so its memory cannot be reused for another tensor while the
/// scope lasts.
struct LoweredCopies {
  uint64_t generation = 0;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> entries;
};
thread_local LoweredCopies t_lowered;

void clear_lowered_copies() {
  t_lowered.entries.clear();
  t_lowered.generation = 0;
}

/// One use of the shared copy: the copy itself forward (a new tensor on the
/// same storage, so that each use is its own node), its gradient converted to
/// float32 backward (the backward of Tensor::to).
struct ShareLowered : public torch::autograd::Function<ShareLowered> {
  struct Copy {
    torch::Tensor value;  // not an autograd input
  };
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& weight,
                               const Copy& copy) {
    ctx->saved_data["dtype"] = static_cast<int64_t>(weight.scalar_type());
    return torch::empty({0}, copy.value.options()).set_(copy.value);  // like weight, bf16
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto dtype = static_cast<c10::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {grads[0].to(dtype), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor lowered_dictionary(const torch::Tensor& weight) {
  const uint64_t gen = DictionaryReuse::generation();
  if (gen == 0 || !lowers(weight)) return lowered(weight);
  auto& cache = t_lowered;
  if (cache.generation != gen) {
    cache.entries.clear();
    cache.generation = gen;
  }
  torch::Tensor copy;
  for (const auto& [key, value] : cache.entries) {
    if (key.data_ptr() == weight.data_ptr() && key.sizes().equals(weight.sizes()) &&
        key.strides().equals(weight.strides()) && key._version() == weight._version()) {
      copy = value;
      break;
    }
  }
  if (!copy.defined()) {
    torch::NoGradGuard no_grad;
    copy = weight.to(torch::kBFloat16);
    cache.entries.emplace_back(weight.detach(), copy);
  }
  if (torch::GradMode::is_enabled() && weight.requires_grad())
    return ShareLowered::apply(weight, ShareLowered::Copy{copy});
  return copy;
}

bool DictionaryMemo::verified(at::IntArrayRef code_shape) const {
  const uint64_t gen = DictionaryReuse::generation();
  return gen != 0 && verified_generation_ == gen && code_shape.vec() == verified_shape_;
}

void DictionaryMemo::set_verified(at::IntArrayRef code_shape) {
  verified_generation_ = DictionaryReuse::generation();
  verified_shape_ = code_shape.vec();
}

}  // namespace sparseloop
