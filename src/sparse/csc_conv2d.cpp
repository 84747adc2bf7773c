#include "sparseloop/sparse/csc_conv2d.h"

#include "sparseloop/sparse/implicit.h"
#include "sparseloop/util/precision.h"

namespace sparseloop {
namespace {

/// x in the channels-last layout, whose gradient goes back in x's own layout.
/// Autograd's backward of contiguous() hands the gradient on in the layout it
/// arrives in, so a row-major caller would get a channels-last gradient; fed
/// to BatchNorm's backward beside its row-major input, LibTorch 1.13 takes a
/// slow mixed-layout path (b128 32×16² 5.5 ms against 1.5; SDNet's blocks put
/// a BatchNorm before every CSC layer; docs/performance.md, "Per-shape bf16
/// weight gradients, and the rest of the step"). One copy here is cheaper.
struct ChannelsLastInput : public torch::autograd::Function<ChannelsLastInput> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->saved_data["format"] = static_cast<int64_t>(x.suggest_memory_format());
    return x.contiguous(at::MemoryFormat::ChannelsLast);  // (B, M, H, W), channels-last
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto format = static_cast<at::MemoryFormat>(ctx->saved_data["format"].toInt());
    return {grads[0].contiguous(format)};  // (B, M, H, W), in x's layout
  }
};

}  // namespace

CscConv2dImpl::CscConv2dImpl(CscConv2dOptions options_) : options(std::move(options_)) {
  reset();
}

void CscConv2dImpl::reset() {
  TORCH_CHECK(options.in_channels() > 0 && options.out_channels() > 0 &&
                  options.kernel_size() > 0,
              "CscConv2d: channels and kernel size must be positive");
  TORCH_CHECK(options.stride() >= 1 && options.padding() >= 0,
              "CscConv2d: stride must be >= 1 and padding >= 0");
  reset_layer({options.out_channels(), options.in_channels(), options.kernel_size(),
               options.kernel_size()});
}

void CscConv2dImpl::pretty_print(std::ostream& s) const {
  const auto& c = options.csc();
  s << "sparseloop::CscConv2d(" << options.in_channels() << ", " << options.out_channels()
    << ", kernel_size=" << options.kernel_size() << ", stride=" << options.stride()
    << ", padding=" << options.padding() << ", lambda=" << c.lambda() << ", steps=" << c.steps()
    << (c.nonnegative() ? ", nonnegative" : "") << (c.normalize_atoms() ? ", unit_atoms" : "")
    << ")";
}

SparseOperator CscConv2dImpl::op(int64_t out_h, int64_t out_w) const {
  return conv_operator(dictionary(), geometry(), out_h, out_w);
}

SparseOperator CscConv2dImpl::make_operator(const torch::Tensor& dict,
                                            const torch::Tensor& x) const {
  return conv_operator(dict, geometry(), x.size(2), x.size(3));
}

std::vector<int64_t> CscConv2dImpl::code_shape(const torch::Tensor& x) const {
  const int64_t k = options.kernel_size();
  return {1, options.out_channels(), conv_code_size(x.size(2), k, geometry()),
          conv_code_size(x.size(3), k, geometry())};
}

torch::Tensor CscConv2dImpl::implicit(const torch::Tensor& z_star, const torch::Tensor& x,
                                      const torch::Tensor& dict) const {
  const auto& c = options.csc();
  return implicit_conv_lasso(z_star, x, dict, geometry(),
                             ImplicitOptions()
                                 .mu(c.mu())
                                 .nonnegative(c.nonnegative())
                                 .cg_iterations(c.cg_iterations()));  // (B, C, Hz, Wz)
}

torch::Tensor CscConv2dImpl::unrolled(const torch::Tensor& x, const torch::Tensor& dict,
                                      const torch::Tensor& z0, const UnrolledOptions& o) const {
  return unrolled_conv_lasso(x, dict, geometry(), z0, o);  // (B, C, Hz, Wz)
}

torch::Tensor CscConv2dImpl::forward(const torch::Tensor& x, const torch::Tensor& z0) {
  return code(x, z0, false);
}

torch::Tensor CscConv2dImpl::code(const torch::Tensor& x, const torch::Tensor& z0,
                                  bool detach_dictionary) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels(), "CscConv2d: expected input (B, ",
              options.in_channels(), ", H, W), got shape ", x.sizes());
  const auto cl = at::MemoryFormat::ChannelsLast;
  // The codes take the input's layout, as Conv2d's output does: a network
  // run channels-last (SDNet, SdnetOptions::channels_last) then converts
  // nothing between layers, where a row-major result cost a copy out of each
  // layer and another into the next, and their copies again in backward
  // (SDNet-18-all b128: these copies were 15 % of a bf16 step's operator time;
  // docs/performance.md, "SDNet: cold estimates by Lanczos, channels-last
  // activations").
  const bool keeps_cl = x.size(1) > 1 && x.suggest_memory_format() == cl;
  if (solves_channels_last(x)) {
    // The unrolled solve on channels-last tensors: oneDNN's convolutions
    // take and give NHWC directly, where row-major codes cost a reorder to its
    // blocked layout and back around every product (docs/performance.md,
    // "On the machine kind"). The fused FISTA steps
    // run on any dense layout.
    auto xc = x.requires_grad() && !x.is_contiguous(cl) ? ChannelsLastInput::apply(x)
                                                          : x.contiguous(cl);  // channels-last
    auto z = solve(xc, z0.defined() ? z0.contiguous(cl) : z0,
                   detach_dictionary);       // (B, C, Hz, Wz), channels-last
    return keeps_cl ? z : z.contiguous();  // (B, C, Hz, Wz), in x's layout
  }
  if (keeps_cl)  // a small map in a channels-last network: solved row-major
    return solve(x.contiguous(), z0.defined() ? z0.contiguous() : z0, detach_dictionary)
        .contiguous(cl);  // (B, C, Hz, Wz), channels-last
  return solve(x, z0, detach_dictionary);  // (B, C, Hz, Wz)
}

bool CscConv2dImpl::solves_channels_last(const torch::Tensor& x) const {
  // On the CPU, float32, by the autograd or no-grad solver (the checkpointed
  // and implicit backward index row-major buffers), for few signal channels
  // (M·k² ≤ 64: RGB or a few maps; 3→64 32² K10 forward 1.4× faster) or at
  // least 16×16 code positions (64→64 16² and 32² forward+backward 1.09×
  // and 1.11×). Not for small maps: converting the CSC-CTRL game step's wide
  // layers too (8×8 codes and less) gained nothing measurable (within this
  // VM's ±5 % noise) while adding a conversion in and out of each layer
  // (docs/performance.md, "On the machine kind"). One
  // channel gains nothing: a (B, 1, H, W) tensor is channels-last and
  // row-major at once, and oneDNN then writes row-major codes.
  const auto& o = options;
  const int64_t k = o.kernel_size();
  if (!x.device().is_cpu() || x.scalar_type() != torch::kFloat || x.size(1) < 2 ||
      o.csc().implicit_backward() || o.csc().checkpointed_backward())
    return false;
  const ConvGeometry g = geometry();
  const int64_t positions = conv_code_size(x.size(2), k, g) * conv_code_size(x.size(3), k, g);
  // Under --precision bf16 every layer but a full-window one (1×1 codes: one
  // GEMM, which a channels-last signal would only make copy): oneDNN's
  // row-major bf16 convolutions reorder through its blocked layout and back
  // (mkldnn_to_dense: 5 % of the bf16 game step's samples), and with AMX
  // doing the arithmetic the reorders weigh more than in fp32. CSC-CTRL's
  // game step, bf16, 107.5–112.6 → 102.2–105.3 ms, alternated
  // (docs/performance.md, "bf16 products without conversions").
  if (lowers(x) && positions > 1) return true;
  return x.size(1) * k * k <= 64 || positions >= 256;
}

torch::Tensor CscConv2dImpl::decode(const torch::Tensor& z, int64_t out_h, int64_t out_w,
                                    bool detach_dictionary) {
  const int64_t k = options.kernel_size();
  TORCH_CHECK(z.dim() == 4, "CscConv2d::decode: expected codes (B, C, Hz, Wz), got ", z.sizes());
  if (out_h < 0) out_h = conv_natural_size(z.size(2), k, geometry());
  if (out_w < 0) out_w = conv_natural_size(z.size(3), k, geometry());
  auto dict = dictionary();
  if (detach_dictionary) dict = dict.detach();
  return conv_synthesis(z, dict, geometry(), out_h, out_w);  // (B, M, H, W)
}

}  // namespace sparseloop
