#include "sparseloop/families/vdl/model.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include <ATen/Parallel.h>

#include "sparseloop/families/vdl/variance_hinge.h"
#include "sparseloop/util/dense_linear.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/simd.h"

namespace sparseloop {

// ---------------------------------------------------------------- decoders

VdlDecoderImpl::VdlDecoderImpl(VdlDecoderOptions options_) : options(options_) { reset(); }

void VdlDecoderImpl::reset() {
  TORCH_CHECK(options.code_dim() > 0 && options.output_dim() > 0,
              "VdlDecoder: code_dim and output_dim must be positive, got ", options.code_dim(),
              " and ", options.output_dim());
  TORCH_CHECK(options.hidden_dim() >= 0, "VdlDecoder: hidden_dim must be >= 0");
  using torch::nn::Linear;
  using torch::nn::LinearOptions;
  if (is_linear()) {
    // The authors' linear_dictionary: nn.Linear(l, d, bias=False), default init.
    linear = register_module(
        "linear", Linear(LinearOptions(options.code_dim(), options.output_dim()).bias(false)));
  } else {
    // one_hidden_decoder: layer1 with bias initialised to 0, layer2 without bias.
    layer1 = register_module("layer1",
                             Linear(LinearOptions(options.code_dim(), options.hidden_dim())));
    layer2 = register_module(
        "layer2", Linear(LinearOptions(options.hidden_dim(), options.output_dim()).bias(false)));
    torch::NoGradGuard no_grad;
    layer1->bias.zero_();
  }
}

torch::Tensor VdlDecoderImpl::forward(const torch::Tensor& z) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == options.code_dim(), "VdlDecoder: expected codes (B, ",
              options.code_dim(), "), got shape ", z.sizes());
  if (is_linear()) return dense_linear(z, linear->weight);  // (B, l) → (B, d)
  auto hidden = torch::relu(dense_linear(z, layer1->weight, layer1->bias));  // (B, h)
  return dense_linear(hidden, layer2->weight);                              // (B, d)
}

torch::Tensor VdlDecoderImpl::reconstruction_grad(const torch::Tensor& z, const torch::Tensor& y) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == options.code_dim(),
              "VdlDecoder::reconstruction_grad: expected codes (B, ", options.code_dim(),
              "), got ", z.sizes());
  TORCH_CHECK(y.dim() == 2 && y.size(0) == z.size(0) && y.size(1) == options.output_dim(),
              "VdlDecoder::reconstruction_grad: expected targets (", z.size(0), ", ",
              options.output_dim(), "), got ", y.sizes());
  torch::NoGradGuard no_grad;
  const double scale = 2.0 / static_cast<double>(options.output_dim());  // d/dŷ of (1/P)‖y − ŷ‖²
  if (is_linear()) {
    const auto& W = linear->weight;                           // (d, l)
    auto r = dense_linear(z, W).sub_(y);                      // zWᵀ − y: (B, d)
    return dense_linear(r, W.t().contiguous()).mul_(scale);   // (B, d)(d, l) → (B, l)
  }
  const auto& W1 = layer1->weight;  // (h, l)
  const auto& W2 = layer2->weight;  // (d, h)
  auto pre = dense_linear(z, W1, layer1->bias);                        // (B, h)
  auto r = dense_linear(torch::relu(pre), W2).sub_(y);                 // ŷ − y: (B, d)
  auto g_hidden = dense_linear(r, W2.t().contiguous()).mul_(pre > 0);  // (B, h)
  return dense_linear(g_hidden, W1.t().contiguous()).mul_(scale);      // (B, l)
}

void VdlDecoderImpl::normalize_columns(double radius) {
  torch::NoGradGuard no_grad;
  for (auto& w : {is_linear() ? linear->weight : layer1->weight,
                  is_linear() ? torch::Tensor() : layer2->weight}) {
    if (!w.defined()) continue;
    auto norms = w.norm(2, 0, /*keepdim=*/true);  // (1, in): one per column
    w.div_(torch::where(norms > 0, norms / radius, torch::ones_like(norms)));
  }
}

torch::Tensor VdlDecoderImpl::dictionary() {
  torch::NoGradGuard no_grad;
  if (is_linear()) return linear->weight.clone();  // (d, l)
  return dense_linear(layer2->weight, layer1->weight.t().contiguous());  // (d, h)(h, l) → (d, l)
}

// ------------------------------------------------------------------ energy

namespace {

torch::Tensor flat_targets(const torch::Tensor& y, const VdlDecoderImpl& dec, const char* who) {
  auto flat = y.reshape({y.size(0), -1});  // (B, d)
  TORCH_CHECK(flat.size(1) == dec.options.output_dim(), who, ": expected inputs of ",
              dec.options.output_dim(), " values per sample, got shape ", y.sizes());
  return flat;
}

/// Column sums of x (B, l) into sum (l), and centred sums of squares into ss.
template <class T>
SPARSELOOP_ALWAYS_INLINE void column_moments(const T* xp, int64_t B, int64_t l, double* mean,
                                             double* ss) {
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < l; ++j) mean[j] += xp[i * l + j];
  for (int64_t j = 0; j < l; ++j) mean[j] /= static_cast<double>(B);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < l; ++j) {
      const double d = xp[i * l + j] - mean[j];
      ss[j] += d * d;
    }
}
SPARSELOOP_SIMD_CLONES void column_moments_f32(const float* xp, int64_t B, int64_t l, double* mean,
                                               double* ss) {
  column_moments<float>(xp, B, l, mean, ss);
}
SPARSELOOP_SIMD_CLONES void column_moments_f64(const double* xp, int64_t B, int64_t l,
                                               double* mean, double* ss) {
  column_moments<double>(xp, B, l, mean, ss);
}

/// v_ij += a_j (x_ij − m_j) over rows [begin, end).
template <class T>
SPARSELOOP_ALWAYS_INLINE void hinge_update(const T* xp, T* vp, const T* a, const T* m,
                                           int64_t begin, int64_t end, int64_t l) {
  for (int64_t i = begin; i < end; ++i)
    for (int64_t j = 0; j < l; ++j) vp[i * l + j] += a[j] * (xp[i * l + j] - m[j]);
}
SPARSELOOP_SIMD_CLONES void hinge_update_f32(const float* xp, float* vp, const float* a,
                                             const float* m, int64_t begin, int64_t end, int64_t l) {
  hinge_update<float>(xp, vp, a, m, begin, end, l);
}
SPARSELOOP_SIMD_CLONES void hinge_update_f64(const double* xp, double* vp, const double* a,
                                             const double* m, int64_t begin, int64_t end,
                                             int64_t l) {
  hinge_update<double>(xp, vp, a, m, begin, end, l);
}

/// v += ηβ·(−∇h(x)) for the variance hinge of the batch x (B, l), in three
/// passes over contiguous CPU rows (column sums; centred sums of squares;
/// the update), statistics in float64: the tensor-op form costs a dozen
/// small kernels and allocations per FISTA step. coef = 2ηβ/(n−1);
/// a_j = coef (T − s_j)₊ / s_j (0 where s_j = 0), v_ij += a_j (x_ij − m_j).
template <class T>
void hinge_step_cpu(const torch::Tensor& x, torch::Tensor& v, double threshold, double coef,
                    double inv_sqrt_n1, std::vector<double>& work) {
  const int64_t B = x.size(0), l = x.size(1);
  work.assign(5 * l, 0.0);
  double* mean = work.data();
  double* ss = mean + l;
  const T* xp = x.data_ptr<T>();
  T* vp = v.data_ptr<T>();
  if constexpr (std::is_same_v<T, float>) {
    column_moments_f32(xp, B, l, mean, ss);
  } else {
    column_moments_f64(xp, B, l, mean, ss);
  }
  // a_j and m_j in T (work's last 2l doubles hold room for them), so that
  // the update loop vectorizes.
  T* a_t = reinterpret_cast<T*>(ss + l);
  T* m_t = a_t + l;
  for (int64_t j = 0; j < l; ++j) {
    const double s = std::sqrt(ss[j]) * inv_sqrt_n1;  // unbiased std of code j
    a_t[j] = static_cast<T>(s > 0 ? std::max(threshold - s, 0.0) * coef / std::max(s, 1e-30) : 0.0);
    m_t[j] = static_cast<T>(mean[j]);
  }
  // Threads only for ≥ 32 768 values a chunk (ATen's grain): the update runs
  // once per FISTA step, and at b250 × 128 a parallel region cost more than
  // the pass (VDL inference 18.1–19.5 → 21.9–22.5 ms when at::parallel_for
  // began to run in parallel; docs/performance.md, "One dictionary per objective").
  at::parallel_for(0, B, std::max<int64_t>(64, 32768 / std::max<int64_t>(l, 1)),
                   [&](int64_t begin, int64_t end) {
    if constexpr (std::is_same_v<T, float>) {
      hinge_update_f32(xp, vp, a_t, m_t, begin, end, l);
    } else {
      hinge_update_f64(xp, vp, a_t, m_t, begin, end, l);
    }
  });
}

}  // namespace

VdlEnergy vdl_energy(VdlDecoder& decoder, const torch::Tensor& y, const torch::Tensor& z,
                     const torch::Tensor& z_enc, const VdlEnergyOptions& o) {
  auto yf = flat_targets(y, *decoder, "vdl_energy");
  TORCH_CHECK(z.dim() == 2 && z.size(0) == yf.size(0), "vdl_energy: codes ", z.sizes(),
              " do not match ", yf.size(0), " inputs");
  VdlEnergy e;
  // Σ_i mean_p (y_ip − D(z_i)_p)²: the authors' MSE(reduction='sum') / P.
  e.reconstruction = (yf - decoder->forward(z)).pow(2).mean(1).sum();
  e.hinge = z.size(0) >= 2 ? variance_hinge(z, o.threshold()) : torch::zeros({}, z.options());
  if (z_enc.defined()) {
    TORCH_CHECK(z_enc.sizes() == z.sizes(), "vdl_energy: encoder codes ", z_enc.sizes(),
                " do not match codes ", z.sizes());
    e.code = (z - z_enc.detach()).pow(2).mean(1).sum();
  } else {
    e.code = torch::zeros({}, z.options());
  }
  e.l1 = z.abs().sum();
  e.total = e.reconstruction + o.beta() * e.hinge + o.gamma() * e.code + o.lambda() * e.l1;
  return e;
}

torch::Tensor vdl_smooth_grad(VdlDecoder& decoder, const torch::Tensor& y, const torch::Tensor& z,
                              const torch::Tensor& z_enc, const VdlEnergyOptions& o) {
  auto yf = flat_targets(y, *decoder, "vdl_smooth_grad");
  torch::NoGradGuard no_grad;
  auto g = decoder->reconstruction_grad(z, yf);
  if (o.beta() > 0 && z.size(0) >= 2) g.add_(variance_hinge_grad(z, o.threshold()), o.beta());
  if (z_enc.defined() && o.gamma() > 0)
    g.add_(z - z_enc, 2.0 * o.gamma() / static_cast<double>(z.size(1)));
  return g;
}

// --------------------------------------------------------------- inference

VdlInferenceResult vdl_inference(VdlDecoder& decoder, const torch::Tensor& y,
                                 const torch::Tensor& z_enc, const VdlInferenceOptions& o,
                                 const torch::Tensor& z_init) {
  const auto& e = o.energy();
  TORCH_CHECK(o.step() > 0 && std::isfinite(o.step()), "vdl_inference: step must be > 0, got ",
              o.step());
  TORCH_CHECK(o.max_steps() >= 1, "vdl_inference: max_steps must be >= 1");
  TORCH_CHECK(o.tolerance() >= 0, "vdl_inference: tolerance must be >= 0");
  TORCH_CHECK(e.lambda() >= 0 && e.beta() >= 0 && e.gamma() >= 0,
              "vdl_inference: λ, β and γ must be >= 0");
  torch::NoGradGuard no_grad;
  auto yf = flat_targets(y, *decoder, "vdl_inference").detach();  // (B, d)
  const int64_t B = yf.size(0);
  const int64_t l = decoder->options.code_dim();
  TORCH_CHECK(B >= 1, "vdl_inference: empty batch");
  torch::Tensor target;  // encoder codes (B, l), constants
  if (z_enc.defined()) {
    TORCH_CHECK(z_enc.dim() == 2 && z_enc.size(0) == B && z_enc.size(1) == l,
                "vdl_inference: encoder codes must be (", B, ", ", l, "), got ", z_enc.sizes());
    target = z_enc.detach().to(yf.options());
  }
  torch::Tensor z;
  if (z_init.defined()) {
    TORCH_CHECK(z_init.dim() == 2 && z_init.size(0) == B && z_init.size(1) == l,
                "vdl_inference: initial codes must be (", B, ", ", l, "), got ", z_init.sizes());
    z = z_init.detach().to(yf.options());
  } else if (target.defined()) {
    z = target;  // warm start from the encoder (use_Zs_enc_as_init)
  } else {
    z = torch::zeros({B, l}, yf.options());
  }
  auto r = proximal_gradient(vdl_smooth_part(decoder, yf, target, e),
                             Prox(ProxOptions().lambda(e.lambda()).nonnegative(o.nonnegative())),
                             ProximalGradientOptions()
                                 .step(o.step())
                                 .iterations(o.max_steps())
                                 .tolerance(o.tolerance())
                                 .momentum(o.momentum() ? Momentum::kFista : Momentum::kNone)
                                 .stop_rule(o.stop_rule()),
                             z);
  VdlInferenceResult out;
  out.z = r.z;
  out.iterations = r.iterations;
  out.sample_steps = r.sample_iterations;
  out.mean_steps = r.sample_iterations.to(torch::kDouble).mean().item<double>();
  return out;
}

SmoothPart vdl_smooth_part(VdlDecoder& decoder, const torch::Tensor& yf,
                           const torch::Tensor& target, const VdlEnergyOptions& e) {
  // In a distributed run yf holds this rank's rows of the global batch; the
  // hinge's statistics are those of the global batch (sums over the ranks).
  const bool global = distributed();
  int64_t B = yf.size(0);
  if (global) {
    auto n = torch::tensor({static_cast<double>(B)}, torch::kDouble);
    world().allreduce_sum(n);
    B = static_cast<int64_t>(n.item<double>());
  }
  const int64_t l = decoder->options.code_dim();
  const double P = static_cast<double>(decoder->options.output_dim());
  const double gamma = target.defined() ? e.gamma() : 0.0;
  const bool use_hinge = e.beta() > 0 && B >= 2;
  const double n1 = static_cast<double>(B - 1);
  const double inv_sqrt_n1 = 1.0 / std::sqrt(std::max(n1, 1.0));
  // What the forward step reuses across iterations: the decoder's weights
  // (transposed once), and for the linear decoder the affine map of the
  // step, rebuilt only if η changes.
  struct State {
    torch::Tensor M, c0;                  // linear: y − η∇f(y) = c₀ + yM
    double eta = -1.0;
    torch::Tensor W1, b1, W2, W1t, W2t;   // non-linear
    torch::Tensor centered;               // hinge workspace (B, l)
    std::vector<double> work;             // hinge workspace (3l), CPU path
  };
  auto st = std::make_shared<State>();
  VdlDecoder dec = decoder;
  if (!dec->is_linear()) {
    st->W1 = dec->layer1->weight.detach().to(yf.dtype());   // (h, l)
    st->b1 = dec->layer1->bias.detach().to(yf.dtype());     // (h,)
    st->W2 = dec->layer2->weight.detach().to(yf.dtype());   // (d, h)
    st->W1t = st->W1.t().contiguous();                      // (l, h)
    st->W2t = st->W2.t().contiguous();                      // (h, d)
  }
  // The linear decoder's step is affine in x: v = c₀ + xM with
  // M = (1 − 2ηγ/l)I − (2η/P)WᵀW (l×l) and c₀ = (2η/P)yW + (2ηγ/l)e (B×l),
  // so one (B×l)·(l×l) product per step. Built once per step size η.
  auto affine = [=](double eta) {
    if (st->eta == eta) return;
    const double code_coef = 2.0 * eta * gamma / static_cast<double>(l);
    const auto Wt = dec->linear->weight.detach().to(yf.dtype()).t().contiguous();  // (l, d)
    auto G = dense_linear(Wt, Wt);                                                // WᵀW: (l, l)
    G = (G + G.t()).mul_(0.5);  // exactly symmetric, so that x·Mᵀ = x·M below
    st->M = G.mul_(-2.0 * eta / P);
    st->M.diagonal().add_(1.0 - code_coef);
    st->c0 = dense_linear(yf, Wt).mul_(2.0 * eta / P);  // (2η/P)yW: (B, l)
    if (gamma > 0) st->c0.add_(target, code_coef);
    st->eta = eta;
  };
  // v −= ηβ ∇h(x), ∇h = −2 (T − s_j)₊ (x_ij − m_j) / ((n−1) s_j)  (variance_hinge.h)
  auto add_hinge = [=](const torch::Tensor& x, torch::Tensor& v, double eta) {
    const bool cpu = !global && x.device().is_cpu() && x.is_contiguous() && v.is_contiguous();
    if (cpu && x.scalar_type() == torch::kFloat) {
      hinge_step_cpu<float>(x, v, e.threshold(), 2.0 * eta * e.beta() / n1, inv_sqrt_n1, st->work);
      return;
    }
    if (cpu && x.scalar_type() == torch::kDouble) {
      hinge_step_cpu<double>(x, v, e.threshold(), 2.0 * eta * e.beta() / n1, inv_sqrt_n1, st->work);
      return;
    }
    if (!st->centered.defined()) st->centered = torch::empty_like(x);
    torch::Tensor mean, ss;
    if (global) {
      // One collective per iteration (its latency, not the arithmetic,
      // bounds this small problem on several ranks): Σx and Σx² in float64,
      // ss = Σx² − B·mean², where one process computes Σ(x − mean)².
      auto xd = x.to(torch::kDouble);
      auto sums = torch::cat({xd.sum(0, /*keepdim=*/true), xd.square().sum(0, true)});  // (2, l)
      world().allreduce_sum(sums);
      auto mean_d = sums[0].unsqueeze(0).div(static_cast<double>(B));                    // (1, l)
      ss = sums[1].unsqueeze(0).sub(mean_d.square().mul(static_cast<double>(B)))
               .clamp_min_(0.0).to(x.dtype());                                          // (1, l)
      mean = mean_d.to(x.dtype());
      at::sub_out(st->centered, x, mean);                                               // (b, l)
    } else {
      mean = x.mean(0, /*keepdim=*/true);
      at::sub_out(st->centered, x, mean);                                               // (b, l)
      ss = st->centered.square().sum(0, /*keepdim=*/true);                             // (1, l)
    }
    auto s = ss.sqrt_().mul_(inv_sqrt_n1);                                             // (1, l)
    auto a = torch::relu(e.threshold() - s).mul_(2.0 * eta * e.beta() / n1);
    a = torch::where(s > 0, a.div_(s.clamp_min(1e-30)), torch::zeros_like(a));
    v.addcmul_(st->centered, a);
  };
  SmoothPart f;
  f.grad = [dec, yf, target, e](const torch::Tensor& z) mutable {
    return vdl_smooth_grad(dec, yf, z, target, e);
  };
  f.forward_step = [=](const torch::Tensor& x, double eta) mutable {
    const double code_coef = 2.0 * eta * gamma / static_cast<double>(l);  // η·∂/∂z of γ(1/l)‖z−e‖²
    torch::Tensor v;
    if (dec->is_linear()) {
      affine(eta);
      // c0 + x·Mᵀ in one gemm that accumulates into c0 (beta = 1; a plain
      // product then add_ paid OpenBLAS's slow clearing of the output:
      // util/blas_product.h); through oneDNN where only the reference BLAS is.
      v = dense_linear_uses_onednn(x) ? dense_linear(x, st->M).add_(st->c0)
                                      : torch::addmm(st->c0, x, st->M.t());  // (B, l)
    } else {
      // ∇rec = (2/P)[((W₂ReLU(W₁x + b₁) − y)W₂) ⊙ 1(W₁x + b₁ > 0)]W₁  (no autograd)
      auto pre = dense_linear(x, st->W1, st->b1);                   // (B, h)
      auto r = dense_linear(torch::relu(pre), st->W2).sub_(yf);     // (B, d)
      auto gh = dense_linear(r, st->W2t).mul_(pre > 0);             // (B, h)
      auto g = dense_linear(gh, st->W1t);                           // (B, l)
      v = x.mul(1.0 - code_coef).add_(g, -eta * 2.0 / P);
      if (gamma > 0) v.add_(target, code_coef);
    }
    if (use_hinge) add_hinge(x, v, eta);
    return v;
  };
  if (dec->is_linear()) {
    // The same step into the solver's buffer: c₀ + xM by one addmm (BLAS),
    // then the hinge in one pass; nothing allocated per iteration.
    f.forward_step_into = [=](const torch::Tensor& x, double eta, torch::Tensor& out) mutable {
      affine(eta);
      if (dense_linear_uses_onednn(x)) {
        out.copy_(dense_linear(x, st->M)).add_(st->c0);  // netlib BLAS: oneDNN's product
      } else {
        at::addmm_out(out, st->c0, x, st->M);  // (B, l) + (B, l)(l, l)
      }
      if (use_hinge) add_hinge(x, out, eta);
    };
  }
  // No `restrict`: the variance hinge is a statistic of the whole batch, so
  // converged samples are masked, not dropped, and all ranks stop together.
  f.global_batch = global;
  f.device = yf.device();
  return f;
}

// ------------------------------------------------------------------- model

VdlModelImpl::VdlModelImpl(VdlModelOptions options_) : options(options_) { reset(); }

void VdlModelImpl::reset() {
  encoder = register_module(
      "encoder", ListaEncoder(ListaEncoderOptions(options.input_dim(), options.code_dim())
                                  .iterations(options.lista_iterations())));
  decoder = register_module(
      "decoder", VdlDecoder(VdlDecoderOptions(options.code_dim(), options.input_dim())
                                .hidden_dim(options.hidden_dim())));
}

}  // namespace sparseloop
