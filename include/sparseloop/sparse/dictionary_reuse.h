// A scope inside which every CSC layer computes its dictionary as used (unit
// atoms) and verifies its Lipschitz constant once, and reuses both: for
// objectives that run the same layers several times while the parameters
// stand still, as CSC-CTRL's game does (f(X), g(Z), f(X̂) in one objective;
// docs/performance.md, "One dictionary per objective").
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// While one is open on this thread, CscLayer::dictionary() returns the same
/// normalized dictionary for every use (one UnitAtoms node in the graph, whose
/// gradient autograd sums over the uses, instead of one per use), and a layer
/// whose L was verified for that dictionary (step refresh on-change) does not
/// compare the dictionary again. The caller promises that no parameter changes
/// and that the graph built inside is differentiated at most once. Values and
/// gradients equal those without the scope (the same operations, once).
/// Nested scopes are one scope (the outermost).
class DictionaryReuse {
 public:
  DictionaryReuse();
  ~DictionaryReuse();
  DictionaryReuse(const DictionaryReuse&) = delete;
  DictionaryReuse& operator=(const DictionaryReuse&) = delete;

  /// The open scope's number on this thread (distinct for every scope opened
  /// on any thread), 0 when none is open.
  static uint64_t generation();
};

/// `weight` (a float32 dictionary as used) rounded to bf16 for the products
/// of --precision bf16 (util/precision.h). Inside a scope the conversion is
/// made once per dictionary and shared by every product of the scope; each use
/// still gets its own autograd edge to `weight`, whose backward converts that
/// use's gradient to float32, so the uses' gradients are summed in float32 as
/// with one conversion per use (the same values; only the forward
/// conversions are saved: CSC-CTRL's widest dictionary, 2.1 M atoms' values,
/// was converted 14 times per game step). Outside a scope, or when nothing
/// lowers, `lowered(weight)`.
torch::Tensor lowered_dictionary(const torch::Tensor& weight);

/// A layer's memory of one scope: the dictionary as used and the code shape
/// its L was verified for.
class DictionaryMemo {
 public:
  /// The memoized dictionary when it was made in the open scope with a graph
  /// if one is wanted now (detached when not); otherwise `make()`, kept for
  /// the scope. Outside a scope, `make()` alone.
  template <class Make>
  torch::Tensor get(const torch::Tensor& weight, Make make) {
    const uint64_t gen = DictionaryReuse::generation();
    if (gen == 0) return make();
    const bool graph = torch::GradMode::is_enabled() && weight.requires_grad();
    if (gen == generation_ && value_.defined() && (with_graph_ || !graph))
      return graph ? value_ : value_.detach();
    value_ = make();
    generation_ = gen;
    with_graph_ = graph;
    return value_;
  }
  /// True when L was verified in the open scope for codes of `code_shape`.
  bool verified(at::IntArrayRef code_shape) const;
  /// Records that L was verified in the open scope for `code_shape`.
  void set_verified(at::IntArrayRef code_shape);

 private:
  torch::Tensor value_;
  uint64_t generation_ = 0;
  bool with_graph_ = false;
  uint64_t verified_generation_ = 0;
  std::vector<int64_t> verified_shape_;
};

}  // namespace sparseloop
