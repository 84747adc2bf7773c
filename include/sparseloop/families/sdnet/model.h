// SDNet: ResNets whose convolutions are convolutional sparse coding layers
// (Dai, Li, et al., "Revisiting Sparse Convolutional Model for Visual
// Recognition", NeurIPS 2022; docs/design.md §7), and the plain ResNet
// baselines built from the very same blocks.
//
//   resnet18/34     every conv a torch::nn::Conv2d
//   sdnet18/34      the stem conv is a CscConv2d (paper §3, "SDNet-18/34")
//   sdnet18/34-all  every 3×3 conv (and the 7×7 ImageNet stem) is a CscConv2d;
//                   1×1 projection shortcuts stay plain convs
//
// A block takes a *conv factory*: the same BasicBlock code builds the ResNet
// block (Conv2d) and the SDNet block (CscConv2d), which is how a CSC layer
// replaces a convolution without other changes.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "sparseloop/engine/batch_norm.h"
#include "sparseloop/sparse/csc_conv2d.h"

namespace sparseloop {

/// The geometry of one convolution of a network: what a factory builds.
struct ConvSpec {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t kernel_size = 3;
  int64_t stride = 1;
  int64_t padding = 1;
};

/// Builds the module of one convolution; its forward maps (B, in, H, W) →
/// (B, out, ⌊(H + 2p − k)/s⌋ + 1, …), like Conv2d(in, out, k, s, p, bias=false).
using ConvFactory = std::function<torch::nn::AnyModule(const ConvSpec&)>;

/// The CSC layer settings of SDNet (authors' Lib/config/default.py and
/// experiments/*.yaml): 2 unrolled steps, λ = 0.1, non-negative codes,
/// unit-norm atoms, step 0.9/L with L
/// from warm-started power iteration, re-estimated only when the dictionary
/// changed (docs/sdnet.md: the same steps as the authors' refresh before
/// every forward), at most 50 warm iterations to 1e-3, and a cold restart
/// after a move of more than 5 % in one step.
CscOptions sdnet_csc_options();

/// CscConv2dOptions for one conv of the network.
CscConv2dOptions csc_options(const ConvSpec& spec, const CscOptions& csc);

/// torch::nn::Conv2d (same parameters, same names in checkpoints) whose
/// forward honours --precision (util/precision.h): the plain convolutions of
/// ResNet and SDNet's projection shortcuts in bf16 alongside the CSC layers.
class PlainConv2dImpl : public torch::nn::Conv2dImpl {
 public:
  /// Conv2d(in, out, k, stride, padding, bias = false).
  explicit PlainConv2dImpl(const ConvSpec& spec);
  torch::Tensor forward(const torch::Tensor& x);  ///< (B, in, H, W) → (B, out, Ho, Wo)

 private:
  // Stride and padding as plain integers: Conv2dOptions holds padding as a
  // variant whose accessor differs between LibTorch 1.13 and 2.x.
  ConvSpec spec_;
};
TORCH_MODULE(PlainConv2d);

/// PlainConv2d(in, out, k, stride, padding, bias = false).
ConvFactory plain_conv_factory();
/// CscConv2d with `csc`.
ConvFactory csc_conv_factory(const CscOptions& csc);

struct BasicBlockOptions {
  BasicBlockOptions(int64_t in_planes, int64_t planes, int64_t stride)
      : in_planes_(in_planes), planes_(planes), stride_(stride) {}
  TORCH_ARG(int64_t, in_planes);
  TORCH_ARG(int64_t, planes);
  /// Stride of the first conv (and of the projection shortcut).
  TORCH_ARG(int64_t, stride);
  /// ReLU after bn1 (ResNet, SDNet-18). SDNet-all has none: its codes are
  /// already non-negative (authors' sdnet_inverse.py BasicBlock.forward).
  TORCH_ARG(bool, relu_between) = true;
  /// Residual connection (identity, or 1×1 conv + BN when the shape changes).
  TORCH_ARG(bool, shortcut) = true;
  /// ReLU at the end of the block. ResNet: always; SDNet-all: only with the
  /// shortcut (authors' code applies relu(out + shortcut(x)) and nothing else).
  TORCH_ARG(bool, relu_out) = true;
};

/// conv1 → BN → [ReLU] → conv2 → BN → [+ shortcut] → [ReLU] (He et al. 2016).
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(BasicBlockOptions options, const ConvFactory& conv);
  /// (B, in_planes, H, W) → (B, planes, H/stride, W/stride).
  torch::Tensor forward(const torch::Tensor& x);

  BasicBlockOptions options;
  torch::nn::AnyModule conv1, conv2;
  /// Spatial size (H, W) of conv1's and conv2's inputs in the last forward.
  std::array<int64_t, 2> conv1_input{0, 0}, conv2_input{0, 0};
  SyncBatchNorm2d bn1{nullptr}, bn2{nullptr};
  /// Empty when the shortcut is the identity (or absent).
  torch::nn::Sequential projection{nullptr};
};
TORCH_MODULE(BasicBlock);

/// Input stem: CIFAR (3×3 s1 conv + BN) or ImageNet (7×7 s2 conv + BN + 3×3 s2
/// max-pool; in -all models a 3×3 s2 CSC layer replaces the max-pool).
enum class StemKind { kCifar, kImagenet };
const char* to_string(StemKind s);
/// "cifar" | "imagenet"; InputError naming `flag` otherwise.
StemKind parse_stem(const std::string& s, const std::string& flag = "--stem");

struct SdnetOptions {
  /// 18 ([2,2,2,2] blocks) or 34 ([3,4,6,3]).
  int64_t depth = 18;
  /// Stem conv is a CSC layer (SDNet-18/34 and -all).
  bool csc_stem = true;
  /// Every 3×3 conv of the blocks is a CSC layer (-all).
  bool csc_all = false;
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  /// Stage widths width·{1, 2, 4, 8} (64 in the paper).
  int64_t width = 64;
  StemKind stem = StemKind::kCifar;
  /// Residual connections (the -all models are also trained without them).
  bool shortcut = true;
  CscOptions csc = sdnet_csc_options();
  /// Run the network on channels-last (NHWC) activations on the CPU: every
  /// layer, CSC or plain, BatchNorm and the additions then read and write
  /// that layout, with no conversion between layers (docs/sdnet.md, "Memory
  /// layout"). Off: row-major, as the authors' code runs.
  bool channels_last = true;
};

/// The options of a named model (docs/cli.md §4.4): sdnet18, sdnet34, sdnet18-all,
/// sdnet34-all, resnet18, resnet34 (InputError naming `flag` otherwise).
SdnetOptions sdnet_options_for(const std::string& model, const std::string& flag = "--model");
/// True for the names sdnet_options_for accepts.
bool is_sdnet_model(const std::string& model);

/// Logits and the stem layer's reconstruction residual.
struct SdnetOutput {
  torch::Tensor logits;    ///< (B, classes)
  torch::Tensor residual;  ///< (B,): ‖x − D z‖² of the stem CSC layer; undefined without one
};

class SdnetImpl : public torch::nn::Module {
 public:
  explicit SdnetImpl(SdnetOptions options);

  /// (B, in_channels, H, W) → logits (B, num_classes).
  torch::Tensor forward(const torch::Tensor& x);
  /// Logits plus the per-image squared residual of the stem's sparse code,
  /// ‖x − D z‖² summed over (C, H, W) (authors' DictBlock r_loss per image),
  /// when the stem is a CSC layer.
  SdnetOutput forward_with_residual(const torch::Tensor& x);

  /// The stem CSC layer (nullptr for ResNets).
  CscConv2d stem_csc() const { return stem_csc_; }
  /// Every CSC layer, stem first.
  std::vector<CscConv2d> csc_layers() const;
  /// The spatial input size (H, W) of each CSC layer in the last forward
  /// (csc_layers() order; {0, 0} before any forward).
  std::vector<std::array<int64_t, 2>> csc_input_sizes() const;
  /// Test-time λ of the stem (SDNet's robust inference changes only this one).
  void set_stem_lambda(double lambda);
  double stem_lambda() const;
  /// Rescales every CSC atom to unit norm in place, without autograd. The
  /// authors normalize the weights in place at each forward (a projection);
  /// calling this after each optimizer step does the same, so weight decay
  /// and the optimizer's momentum never drift the atoms' norms.
  void project_atoms();
  /// max over CSC layers of η·L, with L = ‖D‖² of the layer's current
  /// dictionary at its last input size by a long cold power iteration in
  /// float64 (the check that the step policy keeps η ≤ 1/L); 0 without CSC layers.
  double max_step_times_lipschitz() const;

  const SdnetOptions& options() const { return options_; }

 private:
  /// x in the layout the network runs in (SdnetOptions::channels_last).
  torch::Tensor in_layout(const torch::Tensor& x) const;
  torch::Tensor stem_forward(const torch::Tensor& x, torch::Tensor* residual);

  SdnetOptions options_;
  torch::nn::AnyModule stem_conv_;
  CscConv2d stem_csc_{nullptr};
  SyncBatchNorm2d stem_bn_{nullptr};
  torch::nn::AnyModule stem_down_;  ///< -all ImageNet stem: CSC 3×3 s2 (replaces the max-pool)
  std::vector<torch::nn::Sequential> stages_;
  torch::nn::Linear fc_{nullptr};
  std::array<int64_t, 2> stem_input_{0, 0}, stem_down_input_{0, 0};
};
TORCH_MODULE(Sdnet);

}  // namespace sparseloop
