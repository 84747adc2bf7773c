// Throughput of one SDNet / ResNet training step (`sparseloop bench --case
// sdnet-step --model …`; issue #5 "training throughput and peak memory at
// batch 128, 32×32"). The authors' code on one H100 ran 7 787 (ResNet-18),
// 7 284 (SDNet-18) and 2 285 (SDNet-18-all) images/s (DESIGN.md).
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

/// Times `repeats` (after 2 warm-up steps) training steps of `model` (CLI.md
/// names) on random 3-channel `size`×`size` images, 10 classes, base width
/// `width`, with SDNet's optimizer (SGD Nesterov, momentum 0.9, wd 5e-4) and
/// step policy. Returns medians over the repeats:
///   forward_ms           training-mode forward (autograd graph built)
///   forward_backward_ms  forward + backward + SGD step + atom projection
///   eval_forward_ms      eval-mode forward without autograd
///   images_per_second    batch / forward_backward_ms
///   peak_mib             CUDA: peak allocated memory during the timed steps;
///                        CPU: the process's peak resident set size
/// plus model, batch, size, width, device, parameters, repeats. The CIFAR stem
/// is used below 128 px, the ImageNet stem from 128 px.
nlohmann::json bench_sdnet_step(const std::string& model, int64_t batch, int64_t size,
                                torch::Device device, int repeats, int64_t width = 64);

}  // namespace sparseloop
