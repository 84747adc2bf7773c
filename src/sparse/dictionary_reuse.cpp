#include "sparseloop/sparse/dictionary_reuse.h"

#include <atomic>

namespace sparseloop {
namespace {

std::atomic<uint64_t> g_next{1};     // scope numbers, never reused
thread_local uint64_t t_open = 0;    // this thread's open scope (0: none)
thread_local int t_depth = 0;

}  // namespace

DictionaryReuse::DictionaryReuse() {
  if (t_depth++ == 0) t_open = g_next.fetch_add(1, std::memory_order_relaxed);
}

DictionaryReuse::~DictionaryReuse() {
  if (--t_depth == 0) t_open = 0;
}

uint64_t DictionaryReuse::generation() { return t_open; }

bool DictionaryMemo::verified(at::IntArrayRef code_shape) const {
  const uint64_t gen = DictionaryReuse::generation();
  return gen != 0 && verified_generation_ == gen && code_shape.vec() == verified_shape_;
}

void DictionaryMemo::set_verified(at::IntArrayRef code_shape) {
  verified_generation_ = DictionaryReuse::generation();
  verified_shape_ = code_shape.vec();
}

}  // namespace sparseloop
