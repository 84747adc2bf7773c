// bf16 gradients held for one autograd node that sums them in float32, in one
// pass, when it runs: the node through which a float32 tensor reached its
// bf16 uses (LowerSignal, sparse/lasso.cpp; the shared dictionary copy,
// sparse/dictionary_reuse.cpp).
//
// Why: autograd sums the gradients of a tensor's uses itself, but each bf16
// use of a float32 tensor first needs its own widening node, so n uses cost
// n widening passes, n allocations and n − 1 additions over a tensor of the
// float32 one's size (CSC-CTRL's widest dictionary: 14 uses per game step).
// Here the uses hand their bf16 gradients to a list instead (returning none),
// and the node they all feed — which autograd runs only after every one of
// them — widens and sums the list at once. Nothing in LibTorch offers this.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// The list, shared by the using nodes and the summing node through their
/// autograd contexts (never by a tensor with a grad_fn: no reference cycle
/// through the graph).
struct PendingGradientsList : torch::CustomClassHolder {
  std::vector<torch::Tensor> grads;  // bf16, in arrival order
};
using PendingGradients = c10::intrusive_ptr<PendingGradientsList>;

inline PendingGradients make_pending_gradients() {
  return c10::make_intrusive<PendingGradientsList>();
}

/// For an autograd context's saved_data, which holds IValues only.
inline c10::IValue hold_pending(PendingGradients p) {
  return c10::IValue::make_capsule(std::move(p));
}
inline PendingGradientsList& held_pending(const c10::IValue& v) {
  return *c10::static_intrusive_pointer_cast<PendingGradientsList>(v.toCapsule());
}

/// Σ parts widened to float32, summed left to right as autograd's running sum
/// would ((p₀ + p₁) + p₂ …), in one pass on the CPU: bf16 tensors of one
/// shape (made dense in the first one's layout), result in that layout.
/// Undefined when `parts` is empty.
torch::Tensor sum_widened(std::vector<torch::Tensor> parts);

/// `own` (the summing node's own incoming bf16 gradient, possibly undefined)
/// and the list's gradients summed by sum_widened; empties the list, so that a
/// retained graph's next backward pass starts from nothing.
torch::Tensor take_pending_sum(const torch::Tensor& own, PendingGradientsList& pending);

}  // namespace sparseloop
