#include "sparseloop/engine/gradient_sync.h"

#include <map>

#include "sparseloop/util/distributed.h"

namespace sparseloop {

struct GradientSync::State {
  struct Slot {
    torch::Tensor parameter;
    int64_t offset = 0, numel = 0;
    bool fired = false;  ///< its hook ran in this backward pass
    unsigned hook = 0;
  };
  struct Bucket {
    torch::Tensor buffer;  ///< flat, one dtype and device
    std::vector<size_t> slots;
    size_t ready = 0;
    std::unique_ptr<PendingCollective> pending;
  };
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of;  ///< per slot
  bool armed = false;

  void launch(Bucket& b) {
    if (!b.pending) b.pending = world().allreduce_sum_async(b.buffer);
  }
};

GradientSync::GradientSync(std::vector<torch::Tensor> parameters, int64_t bucket_bytes)
    : state_(std::make_unique<State>()) {
  if (!distributed()) return;
  auto& s = *state_;
  // Reverse registration order: the last layers' gradients are ready first.
  std::map<std::pair<int, std::string>, size_t> open;  // (dtype, device) → open bucket
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    const auto& p = *it;
    if (!p.requires_grad()) continue;
    const auto key = std::make_pair(static_cast<int>(p.scalar_type()), p.device().str());
    auto found = open.find(key);
    if (found == open.end() ||
        s.buckets[found->second].buffer.numel() * p.element_size() >= bucket_bytes) {
      s.buckets.push_back({});
      s.buckets.back().buffer = torch::zeros({0}, p.options().requires_grad(false));
      found = open.insert_or_assign(key, s.buckets.size() - 1).first;
    }
    auto& b = s.buckets[found->second];
    State::Slot slot;
    slot.parameter = p;
    slot.offset = b.buffer.numel();
    slot.numel = p.numel();
    b.buffer = torch::zeros({slot.offset + slot.numel}, b.buffer.options());
    b.slots.push_back(s.slots.size());
    s.bucket_of.push_back(found->second);
    s.slots.push_back(slot);
  }
  for (size_t i = 0; i < s.slots.size(); ++i) {
    auto* st = state_.get();
    s.slots[i].hook = s.slots[i].parameter.register_hook([st, i](torch::Tensor grad) {
      if (!st->armed) return grad;
      auto& slot = st->slots[i];
      auto& b = st->buckets[st->bucket_of[i]];
      if (slot.fired) {  // a second gradient for this parameter in one pass: accumulate
        b.buffer.narrow(0, slot.offset, slot.numel).add_(grad.reshape(-1));
        return grad;
      }
      slot.fired = true;
      b.buffer.narrow(0, slot.offset, slot.numel).copy_(grad.reshape(-1));
      if (++b.ready == b.slots.size()) st->launch(b);  // overlaps the rest of backward
      return grad;
    });
  }
}

GradientSync::~GradientSync() {
  for (auto& slot : state_->slots) slot.parameter.remove_hook(slot.hook);
}

void GradientSync::begin() {
  auto& s = *state_;
  for (auto& b : s.buckets) {
    b.buffer.zero_();
    b.ready = 0;
    b.pending.reset();
  }
  for (auto& slot : s.slots) slot.fired = false;
  s.armed = true;
}

void GradientSync::finish() {
  auto& s = *state_;
  if (s.slots.empty()) return;
  s.armed = false;
  // Buckets with parameters that got no gradient in this pass go now, in the
  // same order on every rank (every rank runs the same graph).
  for (auto& b : s.buckets) s.launch(b);
  for (auto& b : s.buckets) b.pending->wait();
  torch::NoGradGuard no_grad;
  for (auto& slot : s.slots) {
    auto summed = s.buckets[s.bucket_of[&slot - s.slots.data()]].buffer.narrow(0, slot.offset,
                                                                               slot.numel);
    auto& p = slot.parameter;
    if (p.grad().defined()) {
      p.mutable_grad().view(-1).copy_(summed);
    } else if (slot.fired || summed.abs().max().item<double>() > 0) {
      p.mutable_grad() = summed.view(p.sizes()).clone();
    }
  }
}

int64_t GradientSync::bytes_per_step() const {
  int64_t bytes = 0;
  for (const auto& b : state_->buckets) bytes += b.buffer.numel() * b.buffer.element_size();
  return bytes;
}

void broadcast_module(torch::nn::Module& module) {
  if (!distributed()) return;
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    auto t = p.detach().contiguous();
    world().broadcast(t, 0);
    if (!t.is_same(p)) p.copy_(t);
  }
  for (auto& b : module.buffers()) {
    if (b.numel() == 0) continue;
    auto t = b.contiguous();
    world().broadcast(t, 0);
    if (!t.is_same(b)) b.copy_(t);
  }
}

}  // namespace sparseloop
