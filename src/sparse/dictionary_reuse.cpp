#include "sparseloop/sparse/dictionary_reuse.h"

#include <atomic>
#include <vector>

#include "sparseloop/util/pending_gradients.h"
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
  torch::Tensor anchor;       // LowerWeight's output, once a use wants a gradient
  PendingGradients pending;  // the uses' bf16 gradients, for the anchor's node
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

/// The shared copy as one node of the graph, between the dictionary and its
/// uses: forward the copy (a new tensor on its storage), backward the sum of
/// every use's bf16 gradient widened to float32 in one pass
/// (util/pending_gradients.h). The uses are its only consumers, so autograd
/// runs it after all of them. Before, each use widened its own gradient and
/// autograd added them one by one: 14 widenings and 13 additions of
/// CSC-CTRL's widest dictionary (2.1 M values) per game step
/// (docs/performance.md, "SDNet-18-all within 2× ResNet-18").
struct LowerWeight : public torch::autograd::Function<LowerWeight> {
  struct Copy {
    torch::Tensor value;  // not an autograd input
  };
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor&,
                               const Copy& copy, PendingGradients pending) {
    ctx->set_materialize_grads(false);  // the uses return none: no zeros pass
    ctx->saved_data["pending"] = hold_pending(std::move(pending));
    return torch::empty({0}, copy.value.options()).set_(copy.value);  // like weight, bf16
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto g = take_pending_sum(grads[0], held_pending(ctx->saved_data["pending"]));  // float32
    return {g, torch::Tensor(), torch::Tensor()};
  }
};

/// One use of the shared copy: the copy itself forward (a new tensor on the
/// same storage, so that each use is its own node), its bf16 gradient handed
/// to the anchor's pending list backward. needs_input_grad on the anchor says
/// whether this backward pass reaches the dictionary at all.
struct ShareLowered : public torch::autograd::Function<ShareLowered> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               const torch::Tensor& anchor, PendingGradients pending) {
    ctx->saved_data["pending"] = hold_pending(std::move(pending));
    return torch::empty({0}, anchor.options()).set_(anchor);  // like weight, bf16
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    if (ctx->needs_input_grad(0) && grads[0].defined())
      held_pending(ctx->saved_data["pending"]).grads.push_back(grads[0]);
    return {torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor lowered_dictionary(const torch::Tensor& weight) {
  if (DictionaryReuse::generation() == 0 || !lowers(weight)) return lowered(weight);
  LoweredCopy* entry = nullptr;
  for (auto& e : t_lowered) {
    if (e.key.data_ptr() == weight.data_ptr() && e.key.sizes().equals(weight.sizes()) &&
        e.key.strides().equals(weight.strides()) && e.version == weight._version()) {
      entry = &e;
      break;
    }
  }
  if (!entry) {
    torch::NoGradGuard no_grad;
    t_lowered.push_back({weight.detach(), weight._version(), weight.to(torch::kBFloat16), {}, {}});
    entry = &t_lowered.back();
  }
  if (!torch::GradMode::is_enabled() || !weight.requires_grad()) return entry->copy;
  // The anchor belongs to the graph of the weight it was made from: a use
  // of another graph's weight (the same storage and version, a new
  // grad_fn) gets its own.
  const auto edge = torch::autograd::impl::gradient_edge(weight);
  const auto& made_from = entry->anchor.defined() ? entry->anchor.grad_fn()->next_edge(0)
                                                  : torch::autograd::Edge();
  if (made_from.function != edge.function || made_from.input_nr != edge.input_nr) {
    entry->pending = make_pending_gradients();
    entry->anchor = LowerWeight::apply(weight, LowerWeight::Copy{entry->copy}, entry->pending);
  }
  return ShareLowered::apply(entry->anchor, entry->pending);
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
