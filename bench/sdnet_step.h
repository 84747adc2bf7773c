// Throughput of one SDNet / ResNet training step (`sparseloop bench --case
// sdnet-step --model …`; docs/cli.md §7): training throughput and peak memory
// at batch 128, 32×32 (targets: docs/design.md §11.6). The authors' code on one
// H100 ran 7 787 (ResNet-18) and 2 285 (SDNet-18-all) images/s
// (docs/design.md §11.2).
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

/// Times `model` (docs/cli.md §4.4) on random 3-channel `size`×`size` images,
/// 10 classes, base width `width`, with SDNet's optimizer (SGD Nesterov,
/// momentum 0.9, wd 5e-4) and step policy, after 2 warm-up steps. Medians
/// over `repeats`:
///   forward_backward_ms  one training step as the trainer takes it: forward
///                        (with the step policy's refresh of L), backward,
///                        SGD step, atom projection; timed back to back
///   images_per_second    batch / forward_backward_ms
///   forward_ms           training-mode forward with fixed weights (no refresh)
///   eval_forward_ms      eval-mode forward without autograd (no refresh)
///   power_iterations_per_step  summed over the CSC layers (mean)
///   cold_restarts_per_step     layers restarting L cold after a large move
///                        (mean; random labels at lr 0.1 move dictionaries far
///                        more than real training does, see docs/sdnet.md)
///   peak_mib             CUDA: peak allocated memory during the timed steps;
///                        CPU: the process's peak resident set size during them
/// plus model, parameters, csc_layers, batch, size, width, device, repeats.
/// With `baseline` and an SDNet model, the ResNet of the same depth is timed
/// the same way first: "baseline" holds its numbers and
/// "step_time_vs_baseline" = forward_backward_ms / the baseline's; then both
/// models again, one step of each per round (util/timing.h): the medians
/// "paired_forward_backward_ms", "paired_baseline_forward_backward_ms" and
/// "paired_step_time_vs_baseline", the median of the per-round ratios, the
/// one to read on a machine whose speed drifts. The CIFAR
/// stem is used below 128 px, the ImageNet stem from 128 px.
nlohmann::json bench_sdnet_step(const std::string& model, int64_t batch, int64_t size,
                                torch::Device device, int repeats, int64_t width = 64,
                                bool baseline = true);

}  // namespace sparseloop
