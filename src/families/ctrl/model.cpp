#include "sparseloop/families/ctrl/model.h"

#include "sparseloop/util/distributed.h"

#include "sparseloop/engine/batch_norm.h"

#include <cmath>

#include "sparseloop/sparse/conv_dictionary.h"

namespace sparseloop {
namespace F = torch::nn::functional;

namespace {

struct LayerSpec {
  int64_t in, out, stride, padding;
  bool enc_bn;  ///< BN after this encoder layer
};

/// CSC-CTRL Tables 2–5 (k = 4; docs/design.md §6.1–§6.2). The 64×64 variant's
/// fourth layer uses p = 1: with p = 0 an 8×8 input gives 3×3 codes, which the
/// following k4 s1 p0 layer cannot take (docs/design.md §6.2, "Difference").
std::vector<LayerSpec> csc_ctrl_layers(int64_t channels, int64_t size, int64_t w) {
  if (size == 32)
    return {{channels, w, 2, 1, false},
            {w, 2 * w, 2, 1, true},
            {2 * w, 4 * w, 2, 1, true},
            {4 * w, 8 * w, 1, 0, false}};
  TORCH_CHECK(size == 64, "CSC-CTRL: image_size must be 32 or 64, got ", size);
  return {{channels, w, 2, 1, false},
          {w, 2 * w, 2, 1, true},
          {2 * w, 4 * w, 2, 1, true},
          {4 * w, 8 * w, 2, 1, true},
          {8 * w, 16 * w, 1, 0, false}};
}

torch::Tensor flatten_normalize(const torch::Tensor& h) {
  auto z = h.flatten(1);                                   // (B, d)
  return z / z.norm(2, 1, true).clamp_min(1e-12);          // rows on the sphere
}

}  // namespace

CscOptions ctrl_csc_options() {
  return CscOptions()
      .lambda(0.01)
      .steps(2)
      .nonnegative(false)
      .normalize_atoms(true)
      .step_factor(1.0)
      .step_refresh(StepRefresh::kOnChange)
      .power_iterations(3);
}

CscCtrlImpl::CscCtrlImpl(CscCtrlOptions o) : options(o) {
  const auto specs = csc_ctrl_layers(o.channels(), o.image_size(), o.width());
  int64_t size = o.image_size();
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    auto layer = CscConv2d(CscConv2dOptions(s.in, s.out, 4, o.csc())
                               .stride(s.stride)
                               .padding(s.padding));
    layers.push_back(register_module("csc" + std::to_string(i), layer));
    enc_bn.push_back(s.enc_bn ? register_module("enc_bn" + std::to_string(i),
                                                SyncBatchNorm2d(s.out))
                              : SyncBatchNorm2d(nullptr));
    sizes_.push_back(size);
    size = conv_code_size(size, 4, ConvGeometry{s.stride, s.padding});
  }
  TORCH_CHECK(size == 1, "CSC-CTRL: the last layer must give 1×1 features, got ", size);
  // Decoder layer j inverts encoder layer L−1−j; BN + ReLU after all but the
  // last, whose output goes through Tanh.
  for (size_t j = 0; j + 1 < specs.size(); ++j) {
    const auto& s = specs[specs.size() - 1 - j];
    dec_bn.push_back(register_module("dec_bn" + std::to_string(j), SyncBatchNorm2d(s.in)));
  }
}

int64_t CscCtrlImpl::feature_dim() const { return layers.back()->options.out_channels(); }

torch::Tensor CscCtrlImpl::encode(const torch::Tensor& x, bool hold_shared) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.channels() &&
                  x.size(2) == options.image_size() && x.size(3) == options.image_size(),
              "CSC-CTRL: expected images (B, ", options.channels(), ", ", options.image_size(),
              ", ", options.image_size(), "), got ", x.sizes());
  auto h = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    h = layers[i]->code(h, {}, hold_shared);           // (B, C_i, H_i/s, W_i/s)
    if (i + 1 == layers.size()) break;
    if (enc_bn[i])  // one fused function in training (engine/batch_norm_activation.h)
      h = enc_bn[i]->forward_leaky_relu(h, options.negative_slope());
    else
      h = F::leaky_relu(h, F::LeakyReLUFuncOptions().negative_slope(options.negative_slope()));
  }
  return flatten_normalize(h);                          // (B, d)
}

void CscCtrlImpl::calibrate(const torch::Tensor& x) {
  // Decoder layer j maps back to the input of encoder layer i = L−1−j. Its
  // BN is set so that its output has, per channel, the mean and standard
  // deviation the encoder's activation at that point has on `x`: with the
  // shared dictionaries, the decoder then starts as an approximate inverse
  // of the encoder instead of an arbitrary affine rescaling of it.
  torch::NoGradGuard no_grad;
  LocalScope local;  // every rank calibrates on the same images
  std::vector<torch::Tensor> inputs;  // inputs[i]: what encoder layer i receives
  auto h = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    inputs.push_back(h);
    h = layers[i]->forward(h);
    if (i + 1 == layers.size()) break;
    if (enc_bn[i]) h = enc_bn[i]->forward(h);
    h = F::leaky_relu(h, F::LeakyReLUFuncOptions().negative_slope(options.negative_slope()));
  }
  const size_t L = layers.size();
  for (size_t j = 0; j + 1 < L; ++j) {
    const auto& a = inputs[L - 1 - j];                     // (B, M_i, H_i, W_i)
    dec_bn[j]->weight.copy_(a.std({0, 2, 3}).clamp_min(1e-4));
    dec_bn[j]->bias.copy_(a.mean({0, 2, 3}));
  }
}

torch::Tensor CscCtrlImpl::decode(const torch::Tensor& z, bool hold_shared) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == feature_dim(), "CSC-CTRL: expected features (B, ",
              feature_dim(), "), got ", z.sizes());
  auto h = z.view({z.size(0), z.size(1), 1, 1});        // (B, d, 1, 1)
  const size_t L = layers.size();
  for (size_t j = 0; j < L; ++j) {
    const size_t i = L - 1 - j;                         // encoder layer this inverts
    h = layers[i]->decode(h, sizes_[i], sizes_[i], hold_shared);  // (B, M_i, H_i, W_i)
    if (j + 1 < L) {
      h = dec_bn[j]->forward_leaky_relu(h, 0.0);        // relu(BN(h))
    } else {
      h = torch::tanh(h);
    }
  }
  return h;
}

std::vector<torch::Tensor> CscCtrlImpl::shared_parameters() {
  std::vector<torch::Tensor> out;
  for (auto& l : layers) out.push_back(l->weight);
  return out;
}

std::vector<torch::Tensor> CscCtrlImpl::encoder_parameters() {
  auto out = shared_parameters();
  for (auto& bn : enc_bn)
    if (bn)
      for (auto& p : bn->parameters()) out.push_back(p);
  return out;
}

std::vector<torch::Tensor> CscCtrlImpl::decoder_parameters() {
  auto out = shared_parameters();
  for (auto& bn : dec_bn)
    for (auto& p : bn->parameters()) out.push_back(p);
  return out;
}

double CscCtrlImpl::code_sparsity(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  int64_t zeros = 0, total = 0;
  auto h = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto c = layers[i]->forward(h);
    zeros += (c == 0).sum().item<int64_t>();
    total += c.numel();
    if (i + 1 == layers.size()) break;
    h = enc_bn[i] ? enc_bn[i]->forward(c) : c;
    h = F::leaky_relu(h, F::LeakyReLUFuncOptions().negative_slope(options.negative_slope()));
  }
  return total ? static_cast<double>(zeros) / static_cast<double>(total) : 0.0;
}

void CscCtrlImpl::set_lambda(double lambda) {
  options.csc().lambda(lambda);
  for (auto& l : layers) l->options.csc().lambda(lambda);
}

void recalibrate_batch_norm(ClosedLoopModel& model, const std::vector<torch::Tensor>& batches) {
  // f's statistics from real images, g's from their codes, as in training.
  recalibrate_batch_norm(static_cast<torch::nn::Module&>(model), batches,
                         [&model](const torch::Tensor& x) { model.decode(model.encode(x)); });
}

// ---------------------------------------------------------------------------

CtrlImpl::CtrlImpl(CtrlOptions o) : options(o) {
  TORCH_CHECK(o.image_size() == 32, "CTRL: only 32×32 images (mini-DCGAN), got ", o.image_size());
  const int64_t w = o.width();
  auto lrelu = torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(o.negative_slope()));
  auto conv = [](int64_t i, int64_t out, int64_t s, int64_t p) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(i, out, 4).stride(s).padding(p).bias(false));
  };
  encoder = register_module(
      "encoder",
      torch::nn::Sequential(conv(o.channels(), w, 2, 1), lrelu, conv(w, 2 * w, 2, 1),
                            SyncBatchNorm2d(2 * w), lrelu, conv(2 * w, 4 * w, 2, 1),
                            SyncBatchNorm2d(4 * w), lrelu, conv(4 * w, o.latent(), 1, 0)));
  const std::vector<std::pair<int64_t, int64_t>> dec = {
      {o.latent(), 4 * w}, {4 * w, 2 * w}, {2 * w, w}, {w, o.channels()}};
  for (size_t j = 0; j < dec.size(); ++j) {
    dec_weights.push_back(register_parameter("dec_w" + std::to_string(j),
                                             torch::empty({dec[j].first, dec[j].second, 4, 4})));
    if (j + 1 < dec.size())
      dec_bn.push_back(register_module("dec_bn" + std::to_string(j),
                                       SyncBatchNorm2d(dec[j].second)));
  }
  // CTRL's initialization: conv weights N(0, 0.02), BN weight N(1, 0.02), bias 0.
  torch::NoGradGuard no_grad;
  for (auto& p : parameters())
    if (p.dim() == 4) p.normal_(0.0, 0.02);  // every (transposed) convolution kernel
  for (auto& m : modules(false)) {
    if (auto* bn = m->as<SyncBatchNorm2d>()) {
      bn->weight.normal_(1.0, 0.02);
      bn->bias.zero_();
    }
  }
}

torch::Tensor CtrlImpl::encode(const torch::Tensor& x, bool) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.channels() && x.size(2) == 32 &&
                  x.size(3) == 32,
              "CTRL: expected images (B, ", options.channels(), ", 32, 32), got ", x.sizes());
  return flatten_normalize(encoder->forward(x));  // (B, latent)
}

torch::Tensor CtrlImpl::decode(const torch::Tensor& z, bool) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == options.latent(), "CTRL: expected features (B, ",
              options.latent(), "), got ", z.sizes());
  auto h = z.view({z.size(0), z.size(1), 1, 1});  // (B, latent, 1, 1)
  const std::vector<ConvGeometry> geo = {{1, 0}, {2, 1}, {2, 1}, {2, 1}};
  for (size_t j = 0; j < dec_weights.size(); ++j) {
    const int64_t out = conv_natural_size(h.size(2), 4, geo[j]);
    h = conv_synthesis(h, dec_weights[j], geo[j], out, out);  // ConvTranspose2d(k4)
    h = j + 1 < dec_weights.size() ? torch::relu(dec_bn[j]->forward(h)) : torch::tanh(h);
  }
  return h;  // (B, C, 32, 32)
}

std::vector<torch::Tensor> CtrlImpl::encoder_parameters() { return encoder->parameters(); }

std::vector<torch::Tensor> CtrlImpl::decoder_parameters() {
  auto out = dec_weights;
  for (auto& bn : dec_bn)
    for (auto& p : bn->parameters()) out.push_back(p);
  return out;
}

}  // namespace sparseloop
