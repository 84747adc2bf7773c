#include "sparseloop/sparse/dictionary_reuse.h"

#include <atomic>
#include <vector>

#include "sparseloop/util/precision.h"

namespace sparseloop {
namespace {

std::atomic<uint64_t> g_next{1};     // scope numbers, never reused
thread_local uint64_t t_open = 0;    // this thread's open scope (0: none)
thread_local int t_depth = 0;

/// The open scope's bf16 copies, keyed by storage and shape so that a
/// detached use finds its dictionary's copy; emptied when the outermost scope
/// closes, so every entry belongs to the open scope. The key tensor is held,
/// so its memory cannot be reused for another tensor while the scope lasts;
/// its version at the copy is kept, since a detached key shares the
/// dictionary's version counter and so cannot tell an in-place change itself.
struct LoweredCopy {
  torch::Tensor key;
  int64_t version;
  torch::Tensor copy;
};
thread_local std::vector<LoweredCopy> t_lowered;

}  // namespace

DictionaryReuse::DictionaryReuse() {
  if (t_depth++ == 0) t_open = g_next.fetch_add(1, std::memory_order_relaxed);
}

DictionaryReuse::~DictionaryReuse() {
  if (--t_depth == 0) {
    t_open = 0;
    t_lowered.clear();
  }
}

uint64_t DictionaryReuse::generation() { return t_open; }

namespace {

/// One use of the shared copy: the copy itself forward (a new tensor on the
/// same storage, so that each use is its own node), its gradient converted to
/// float32 backward (the backward of Tensor::to; only float32 dictionaries
/// lower).
struct ShareLowered : public torch::autograd::Function<ShareLowered> {
  struct Copy {
    torch::Tensor value;  // not an autograd input
  };
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor&,
                               const Copy& copy) {
    return torch::empty({0}, copy.value.options()).set_(copy.value);  // like weight, bf16
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grads) {
    return {grads[0].to(torch::kFloat), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor lowered_dictionary(const torch::Tensor& weight) {
  if (DictionaryReuse::generation() == 0 || !lowers(weight)) return lowered(weight);
  torch::Tensor copy;
  for (const auto& e : t_lowered) {
    if (e.key.data_ptr() == weight.data_ptr() && e.key.sizes().equals(weight.sizes()) &&
        e.key.strides().equals(weight.strides()) && e.version == weight._version()) {
      copy = e.copy;
      break;
    }
  }
  if (!copy.defined()) {
    torch::NoGradGuard no_grad;
    copy = weight.to(torch::kBFloat16);
    t_lowered.push_back({weight.detach(), weight._version(), copy});
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
