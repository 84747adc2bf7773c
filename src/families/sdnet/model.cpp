#include "sparseloop/families/sdnet/model.h"

#include "sparseloop/sparse/conv_dictionary.h"
#include "sparseloop/sparse/lipschitz.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/precision.h"

namespace sparseloop {

CscOptions sdnet_csc_options() {
  return CscOptions()
      .lambda(0.1)
      .steps(2)
      .nonnegative(true)
      .normalize_atoms(true)
      .step_factor(0.9)
      .step_refresh(StepRefresh::kOnChange)
      .power_iterations(50)
      .power_tolerance(1e-3)
      .restart_threshold(0.05);
}

CscConv2dOptions csc_options(const ConvSpec& spec, const CscOptions& csc) {
  return CscConv2dOptions(spec.in_channels, spec.out_channels, spec.kernel_size, csc)
      .stride(spec.stride)
      .padding(spec.padding);
}

PlainConv2dImpl::PlainConv2dImpl(const ConvSpec& spec)
    : torch::nn::Conv2dImpl(
          torch::nn::Conv2dOptions(spec.in_channels, spec.out_channels, spec.kernel_size)
              .stride(spec.stride)
              .padding(spec.padding)
              .bias(false)),
      spec_(spec) {}

torch::Tensor PlainConv2dImpl::forward(const torch::Tensor& x) {
  return conv2d_in_precision(x, weight, bias, spec_.stride, spec_.padding);  // (B, out, Ho, Wo)
}

ConvFactory plain_conv_factory() {
  return [](const ConvSpec& c) { return torch::nn::AnyModule(PlainConv2d(c)); };
}

ConvFactory csc_conv_factory(const CscOptions& csc) {
  return [csc](const ConvSpec& c) { return torch::nn::AnyModule(CscConv2d(csc_options(c, csc))); };
}

// ---------------------------------------------------------------------------
// BasicBlock

BasicBlockImpl::BasicBlockImpl(BasicBlockOptions o, const ConvFactory& conv)
    : options(std::move(o)) {
  const int64_t in = options.in_planes(), planes = options.planes(), s = options.stride();
  TORCH_CHECK(in > 0 && planes > 0 && s >= 1, "BasicBlock: bad planes/stride (", in, ", ", planes,
              ", ", s, ")");
  conv1 = conv(ConvSpec{in, planes, 3, s, 1});
  conv2 = conv(ConvSpec{planes, planes, 3, 1, 1});
  register_module("conv1", conv1.ptr());
  bn1 = register_module("bn1", SyncBatchNorm2d(planes));
  register_module("conv2", conv2.ptr());
  bn2 = register_module("bn2", SyncBatchNorm2d(planes));
  if (options.shortcut() && (s != 1 || in != planes)) {
    // 1×1 projection shortcut, always a plain conv (also in SDNet-all).
    projection = register_module(
        "shortcut",
        torch::nn::Sequential(
            PlainConv2d(ConvSpec{in, planes, 1, s, 0}),
            SyncBatchNorm2d(planes)));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  conv1_input = {x.size(2), x.size(3)};
  auto out = bn1(conv1.forward(x));  // (B, planes, H/s, W/s)
  if (options.relu_between()) out = torch::relu(out);
  conv2_input = {out.size(2), out.size(3)};
  out = bn2(conv2.forward(out));     // (B, planes, H/s, W/s)
  if (options.shortcut()) out = out + (projection ? projection->forward(x) : x);
  if (options.relu_out()) out = torch::relu(out);
  return out;
}

// ---------------------------------------------------------------------------
// Model names and stems

const char* to_string(StemKind s) {
  return s == StemKind::kCifar ? "cifar" : "imagenet";
}

StemKind parse_stem(const std::string& s, const std::string& flag) {
  if (s == "cifar") return StemKind::kCifar;
  if (s == "imagenet") return StemKind::kImagenet;
  throw InputError(flag + " '" + s + "': expected cifar or imagenet");
}

bool is_sdnet_model(const std::string& m) {
  return m == "sdnet18" || m == "sdnet34" || m == "sdnet18-all" || m == "sdnet34-all" ||
         m == "resnet18" || m == "resnet34";
}

SdnetOptions sdnet_options_for(const std::string& m, const std::string& flag) {
  if (!is_sdnet_model(m))
    throw InputError(flag + " '" + m +
                     "': not an SDNet/ResNet model (sdnet18 sdnet34 sdnet18-all sdnet34-all "
                     "resnet18 resnet34)");
  SdnetOptions o;
  o.depth = m.find("34") != std::string::npos ? 34 : 18;
  o.csc_stem = m.rfind("sdnet", 0) == 0;
  o.csc_all = m.size() > 4 && m.compare(m.size() - 4, 4, "-all") == 0;
  return o;
}

// ---------------------------------------------------------------------------
// The network

SdnetImpl::SdnetImpl(SdnetOptions o) : options_(std::move(o)) {
  const auto& o_ = options_;
  TORCH_CHECK(o_.depth == 18 || o_.depth == 34, "Sdnet: depth must be 18 or 34, got ", o_.depth);
  TORCH_CHECK(o_.in_channels > 0 && o_.num_classes > 0 && o_.width > 0,
              "Sdnet: in_channels, num_classes and width must be positive");
  TORCH_CHECK(!o_.csc_all || o_.csc_stem, "Sdnet: -all models have a CSC stem");
  const ConvFactory plain = plain_conv_factory();
  const ConvFactory csc = csc_conv_factory(o_.csc);
  const int64_t w = o_.width;

  // Stem (authors' sdnet.py / sdnet_inverse.py layer0).
  const bool imagenet = o_.stem == StemKind::kImagenet;
  const ConvSpec stem_spec = imagenet ? ConvSpec{o_.in_channels, w, 7, 2, 3}
                                      : ConvSpec{o_.in_channels, w, 3, 1, 1};
  if (o_.csc_stem) {
    stem_csc_ = CscConv2d(csc_options(stem_spec, o_.csc));
    stem_conv_ = torch::nn::AnyModule(stem_csc_);
  } else {
    stem_conv_ = plain(stem_spec);
  }
  register_module("stem_conv", stem_conv_.ptr());
  stem_bn_ = register_module("stem_bn", SyncBatchNorm2d(w));
  if (imagenet && o_.csc_all) {
    // sdnet_inverse.py: DictConv2d(64, 64, 3, 2, 1) in place of the max-pool, no BN after it.
    stem_down_ = csc(ConvSpec{w, w, 3, 2, 1});
    register_module("stem_down", stem_down_.ptr());
  }

  // Stages: widths w·{1,2,4,8}, strides {1,2,2,2}.
  const std::vector<int64_t> blocks =
      o_.depth == 18 ? std::vector<int64_t>{2, 2, 2, 2} : std::vector<int64_t>{3, 4, 6, 3};
  int64_t in_planes = w;
  for (int64_t s = 0; s < 4; ++s) {
    const int64_t planes = w << s;
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < blocks[s]; ++b) {
      const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
      auto bo = BasicBlockOptions(in_planes, planes, stride)
                    .relu_between(!o_.csc_all)
                    .shortcut(o_.shortcut)
                    .relu_out(!o_.csc_all || o_.shortcut);
      stage->push_back(BasicBlock(bo, o_.csc_all ? csc : plain));
      in_planes = planes;
    }
    stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  fc_ = register_module("fc", torch::nn::Linear(in_planes, o_.num_classes));
}

torch::Tensor SdnetImpl::stem_forward(const torch::Tensor& x, torch::Tensor* residual) {
  torch::Tensor out;
  stem_input_ = {x.size(2), x.size(3)};
  if (stem_csc_) {
    out = stem_csc_->forward(x);  // (B, w, Hz, Wz), codes ≥ 0
    if (residual) {
      // Authors' DictBlock.forward: r = x − D(c), r_loss = Σ r² (per image here).
      auto xhat = stem_csc_->decode(out, x.size(2), x.size(3));  // (B, M, H, W)
      *residual = (x - xhat).pow(2).sum({1, 2, 3});              // (B,)
    }
  } else {
    out = stem_conv_.forward(x);  // (B, w, Hz, Wz)
  }
  // One signal channel: the layer cannot tell a channels-last input from a
  // row-major one ((B, 1, H, W) is both), so its codes come out row-major.
  out = stem_bn_(in_layout(out));
  // ResNet: ReLU after the stem BN; SDNet: none (codes are already ≥ 0, the
  // ReLU is commented out in the authors' code).
  if (!stem_csc_) out = torch::relu(out);
  if (options_.stem == StemKind::kImagenet) {
    if (!stem_down_.is_empty()) {
      stem_down_input_ = {out.size(2), out.size(3)};
      out = stem_down_.forward(out);  // (B, w, H/4, W/4)
    }
    else
      out = torch::max_pool2d(out, 3, 2, 1);  // (B, w, H/4, W/4)
  }
  return out;
}

torch::Tensor SdnetImpl::in_layout(const torch::Tensor& x) const {
  if (!options_.channels_last || !x.device().is_cpu()) return x;
  return x.contiguous(at::MemoryFormat::ChannelsLast);  // (B, M, H, W), channels-last
}

SdnetOutput SdnetImpl::forward_with_residual(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels, "Sdnet: expected input (B, ",
              options_.in_channels, ", H, W), got shape ", x.sizes());
  SdnetOutput r;
  auto out = stem_forward(in_layout(x), stem_csc_ ? &r.residual : nullptr);
  for (auto& stage : stages_) out = stage->forward(out);  // (B, 8w, H/8, W/8) (CIFAR stem)
  out = torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);  // (B, 8w)
  r.logits = fc_(out);                                       // (B, classes)
  return r;
}

torch::Tensor SdnetImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels, "Sdnet: expected input (B, ",
              options_.in_channels, ", H, W), got shape ", x.sizes());
  auto out = stem_forward(in_layout(x), nullptr);
  for (auto& stage : stages_) out = stage->forward(out);
  out = torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);  // (B, 8w)
  return fc_(out);                                           // (B, classes)
}

std::vector<CscConv2d> SdnetImpl::csc_layers() const {
  std::vector<CscConv2d> out;
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto c = std::dynamic_pointer_cast<CscConv2dImpl>(m)) out.emplace_back(c);
  }
  // modules() lists in registration order, so the stem comes first.
  return out;
}

void SdnetImpl::set_stem_lambda(double lambda) {
  TORCH_CHECK(stem_csc_, "Sdnet: this model has no CSC stem (a ResNet)");
  TORCH_CHECK(lambda >= 0.0, "Sdnet: lambda must be >= 0, got ", lambda);
  stem_csc_->options.csc().lambda(lambda);
}

double SdnetImpl::stem_lambda() const {
  return stem_csc_ ? stem_csc_->options.csc().lambda() : 0.0;
}

void SdnetImpl::project_atoms() {
  torch::NoGradGuard no_grad;
  for (auto& layer : csc_layers()) {
    if (!layer->options.csc().normalize_atoms()) continue;
    auto& w = layer->weight;
    auto norms = w.pow(2).sum({1, 2, 3}, /*keepdim=*/true).sqrt().clamp_min(1e-12);  // (C,1,1,1)
    w.div_(norms);
  }
}

std::vector<std::array<int64_t, 2>> SdnetImpl::csc_input_sizes() const {
  // Same order as csc_layers(): registration order (stem, stem_down, blocks).
  std::vector<std::array<int64_t, 2>> out;
  if (stem_csc_) out.push_back(stem_input_);
  if (!stem_down_.is_empty()) out.push_back(stem_down_input_);
  if (options_.csc_all) {
    for (const auto& stage : stages_)
      for (const auto& m : stage->children()) {
        auto b = std::dynamic_pointer_cast<BasicBlockImpl>(m);
        out.push_back(b->conv1_input);
        out.push_back(b->conv2_input);
      }
  }
  return out;
}

double SdnetImpl::max_step_times_lipschitz() const {
  torch::NoGradGuard no_grad;
  auto layers = csc_layers();
  auto sizes = csc_input_sizes();
  double worst = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (sizes[i][0] <= 0) continue;
    auto dict = layers[i]->dictionary().detach().to(torch::kCPU, torch::kDouble);
    const ConvGeometry g{layers[i]->options.stride(), layers[i]->options.padding()};
    const int64_t k = layers[i]->options.kernel_size();
    auto op = conv_operator(dict, g, sizes[i][0], sizes[i][1]);
    // A fixed private start vector: the global RNG (training's) is not touched.
    auto v = power_iteration_start({1, dict.size(0), conv_code_size(sizes[i][0], k, g),
                                    conv_code_size(sizes[i][1], k, g)},
                                   torch::TensorOptions().dtype(torch::kDouble));
    const double L = power_iteration(op, v, 2000, 1e-9).lipschitz;
    worst = std::max(worst, layers[i]->step() * L);
  }
  return worst;
}

}  // namespace sparseloop
