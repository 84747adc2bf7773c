// SDNet and ResNet weights in the authors' PyTorch names (github
// Delay-Xili/SDNet, docs/sdnet-authors-code.md §2–§3; engine/interop.h):
//
//   ours                     sdnet18/34, resnet18/34     sdnet18/34-all
//   stem_conv.weight         layer0.0.dn.weight (SDNet)  layer0.0.dn.weight
//                            layer0.0.weight (ResNet)
//   stem_bn.*                layer0.1.*                  layer0.1.*
//   stem_down.weight         —                           layer0.2.dn.weight (ImageNet stem)
//   layerS.i.convJ.weight    layerS.i.convJ.weight       layerS.layers.i.convJ.dn.weight
//   layerS.i.bnJ.*           layerS.i.bnJ.*              layerS.layers.i.bnJ.*
//   layerS.i.shortcut.k.*    layerS.i.shortcut.k.*       layerS.layers.i.shortcut.k.*
//   fc.*                     linear.*                    linear.*
//
// The authors' DictBlock also holds a `step_size` buffer (0.9/L), which their
// update_stepsize() recomputes before every forward: an export writes it
// from our L, an import ignores it (our CSC layers re-estimate L).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/engine/config.h"
#include "sparseloop/families/sdnet/trainer.h"
#include "sparseloop/io/safetensors.h"

namespace sparseloop {

/// The authors' name of our tensor `ours` of `model` ("" for the power-iteration caches).
std::string sdnet_authors_name(const std::string& model, const std::string& ours);

/// The authors' dn.step_size buffers (0.9/L) for the CSC layers of `ours`.
std::vector<std::pair<std::string, torch::Tensor>> sdnet_derived_tensors(const std::string& model,
                                                                         const TensorFile& ours);

/// cifar10 / cifar100 / mnist / folder (ImageNet), from the stem's input
/// channels and the classifier's classes.
std::string sdnet_default_data(const std::string& model, const TensorFile& authors);

/// Writes the run folder common.out for `common.model` from the authors'
/// tensors: width, stem, shortcut, channels and classes come from their
/// shapes; image_size 0 means 32 px for the CIFAR stem and 224 for ImageNet's.
nlohmann::json import_sdnet(const CommonTrainConfig& common, const SdnetConfig& config,
                            const TensorFile& authors, int64_t image_size);

}  // namespace sparseloop
