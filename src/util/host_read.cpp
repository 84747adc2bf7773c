#include "sparseloop/util/host_read.h"

#include <algorithm>

namespace sparseloop {

std::vector<double> host_read(const std::vector<torch::Tensor>& scalars) {
  bool on_cpu = true;
  for (const auto& t : scalars) {
    TORCH_CHECK(t.defined() && t.numel() == 1, "host_read: a one-element tensor expected, got ",
                t.defined() ? t.sizes() : at::IntArrayRef{});
    on_cpu = on_cpu && t.device().is_cpu();
  }
  std::vector<double> out;
  out.reserve(scalars.size());
  if (on_cpu) {
    for (const auto& t : scalars) out.push_back(t.item<double>());
    return out;
  }
  // Device values gathered on the device first (float64 holds every float32,
  // bf16 and int32 exactly), then one copy; CPU tensors among them travel too.
  const auto device = std::find_if(scalars.begin(), scalars.end(), [](const torch::Tensor& t) {
                        return !t.device().is_cpu();
                      })->device();
  std::vector<torch::Tensor> parts;
  parts.reserve(scalars.size());
  for (const auto& t : scalars)
    parts.push_back(t.detach().reshape({1}).to(device, torch::kDouble));  // (1)
  const auto host = torch::cat(parts).cpu();  // (n)
  const double* v = host.data_ptr<double>();
  out.assign(v, v + host.numel());
  return out;
}

}  // namespace sparseloop
