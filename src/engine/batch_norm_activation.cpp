#include "sparseloop/engine/batch_norm_activation.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <utility>

#include "sparseloop/util/simd.h"

namespace sparseloop {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The selects below (g or g·slope by the output's sign) vectorize only
// without GCC's default -ftrapping-math, as in proximal_gradient.cpp: with it
// they stayed branches, mispredicted half the time on a symmetric input
// (2.8 ms for a b64 32×16² forward against LibTorch's 1.1).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

/// One channel's planes: x[b] = base + (b·C + c)·P, b < B.
struct Planes {
  int64_t B, C, P;
  int64_t offset(int64_t b, int64_t c) const { return (b * C + c) * P; }
};

/// (Σ f(o), Σ h(o)) over the offsets o of channel c's values, in kLanes
/// independent partial sums of T each, which the compiler vectorizes (one
/// running sum cannot be: floating-point addition does not reassociate),
/// flushed into float64 every kFlush values so that no partial sum adds more
/// than kFlush/kLanes terms. The lanes run across planes: a 4×4 plane is one
/// vector, and a flush per plane cost as much as the sums.
constexpr int64_t kLanes = 16;
constexpr int64_t kFlush = 4096;

template <typename T, typename F, typename H>
SPARSELOOP_ALWAYS_INLINE std::pair<double, double> channel_sums(const Planes& s, int64_t c, F f,
                                                                H h) {
  T af[kLanes] = {}, ah[kLanes] = {};
  double sf = 0.0, sh = 0.0;
  int64_t pending = 0;
  for (int64_t b = 0; b < s.B; ++b) {
    const int64_t o = s.offset(b, c);
    int64_t i = 0;
    for (; i + kLanes <= s.P; i += kLanes) {
      for (int64_t l = 0; l < kLanes; ++l) {
        af[l] += f(o + i + l);
        ah[l] += h(o + i + l);
      }
    }
    for (; i < s.P; ++i) {
      sf += static_cast<double>(f(o + i));
      sh += static_cast<double>(h(o + i));
    }
    pending += s.P;
    if (pending >= kFlush || b + 1 == s.B) {
      for (int64_t l = 0; l < kLanes; ++l) {
        sf += static_cast<double>(af[l]);
        sh += static_cast<double>(ah[l]);
        af[l] = ah[l] = T(0);
      }
      pending = 0;
    }
  }
  return {sf, sh};
}

/// Forward for channels [c0, c1): statistics in two passes (mean, then the
/// centred squares: no cancellation), then one pass writing the output.
template <typename T>
SPARSELOOP_ALWAYS_INLINE void forward_channels(const T* x, T* y, const Planes& s, const T* w,
                                               const T* bias, double eps, T slope, double* mean,
                                               double* var, double* rstd, int64_t c0,
                                               int64_t c1) {
  const double n = static_cast<double>(s.B * s.P);
  const auto zero = [](int64_t) { return T(0); };
  for (int64_t c = c0; c < c1; ++c) {
    const double mu = channel_sums<T>(s, c, [x](int64_t o) { return x[o]; }, zero).first / n;
    const T m = static_cast<T>(mu);
    const auto centred_square = [x, m](int64_t o) {
      const T d = x[o] - m;
      return d * d;
    };
    const double v = channel_sums<T>(s, c, centred_square, zero).first / n;  // biased
    const double r = 1.0 / std::sqrt(v + eps);
    mean[c] = mu;
    var[c] = v;
    rstd[c] = r;
    const T a = static_cast<T>(r * static_cast<double>(w[c]));
    const T shift = bias[c];
    for (int64_t b = 0; b < s.B; ++b) {
      const T* xb = x + s.offset(b, c);
      T* yb = y + s.offset(b, c);
      for (int64_t i = 0; i < s.P; ++i) {
        const T u = (xb[i] - m) * a + shift;
        yb[i] = u > T(0) ? u : u * slope;
      }
    }
  }
}

/// Backward for channels [c0, c1). With x̂ = (x − μ)·r, g' = g·act'(y) and
/// N values per channel (BatchNorm's gradient, Ioffe & Szegedy 2015, §3):
///   ∂L/∂b = Σ g',  ∂L/∂w = Σ g'·x̂,
///   ∂L/∂x = w·r·(g' − Σg'/N − x̂·Σ(g'·x̂)/N).
/// act'(y) reads the output: y > 0 exactly where the pre-activation is
/// (slope ≥ 0), and 1 there, `slope` elsewhere, as LibTorch's backward of
/// leaky_relu (and of relu, whose backward tests the result > 0).
template <typename T>
SPARSELOOP_ALWAYS_INLINE void backward_channels(const T* g, const T* x, const T* y,
                                                const Planes& s, const T* w, const double* mean,
                                                const double* rstd, T slope, T* gx, T* gw, T* gb,
                                                int64_t c0, int64_t c1) {
  const double n = static_cast<double>(s.B * s.P);
  for (int64_t c = c0; c < c1; ++c) {
    const T m = static_cast<T>(mean[c]), r = static_cast<T>(rstd[c]);
    const auto gp = [g, y, slope](int64_t o) { return y[o] > T(0) ? g[o] : g[o] * slope; };
    const auto gp_xhat = [g, x, y, slope, m, r](int64_t o) {
      return (y[o] > T(0) ? g[o] : g[o] * slope) * ((x[o] - m) * r);
    };
    const auto [sg, sgx] = channel_sums<T>(s, c, gp, gp_xhat);
    if (gw) gw[c] = static_cast<T>(sgx);
    if (gb) gb[c] = static_cast<T>(sg);
    if (!gx) continue;
    const T scale = static_cast<T>(rstd[c] * static_cast<double>(w[c]));
    const T mean_g = static_cast<T>(sg / n), mean_gx = static_cast<T>(sgx / n);
    for (int64_t b = 0; b < s.B; ++b) {
      const int64_t o = s.offset(b, c);
      const T *gb_ = g + o, *xb = x + o, *yb = y + o;
      T* out = gx + o;
      for (int64_t i = 0; i < s.P; ++i) {
        const T gpi = yb[i] > T(0) ? gb_[i] : gb_[i] * slope;
        out[i] = scale * (gpi - mean_g - (xb[i] - m) * r * mean_gx);
      }
    }
  }
}

// One compiled body per element type and instruction set (util/simd.h).
SPARSELOOP_SIMD_CLONES void forward_f32(const float* x, float* y, const Planes& s, const float* w,
                                        const float* b, double eps, float slope, double* mean,
                                        double* var, double* rstd, int64_t c0, int64_t c1) {
  forward_channels<float>(x, y, s, w, b, eps, slope, mean, var, rstd, c0, c1);
}
SPARSELOOP_SIMD_CLONES void forward_f64(const double* x, double* y, const Planes& s,
                                        const double* w, const double* b, double eps,
                                        double slope, double* mean, double* var, double* rstd,
                                        int64_t c0, int64_t c1) {
  forward_channels<double>(x, y, s, w, b, eps, slope, mean, var, rstd, c0, c1);
}
SPARSELOOP_SIMD_CLONES void backward_f32(const float* g, const float* x, const float* y,
                                         const Planes& s, const float* w, const double* mean,
                                         const double* rstd, float slope, float* gx, float* gw,
                                         float* gb, int64_t c0, int64_t c1) {
  backward_channels<float>(g, x, y, s, w, mean, rstd, slope, gx, gw, gb, c0, c1);
}
SPARSELOOP_SIMD_CLONES void backward_f64(const double* g, const double* x, const double* y,
                                         const Planes& s, const double* w, const double* mean,
                                         const double* rstd, double slope, double* gx,
                                         double* gw, double* gb, int64_t c0, int64_t c1) {
  backward_channels<double>(g, x, y, s, w, mean, rstd, slope, gx, gw, gb, c0, c1);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

// Overloads on the element type for AT_DISPATCH's lambdas.
void forward_kernel(const float* x, float* y, const Planes& s, const float* w, const float* b,
                    double eps, float slope, double* mean, double* var, double* rstd, int64_t c0,
                    int64_t c1) {
  forward_f32(x, y, s, w, b, eps, slope, mean, var, rstd, c0, c1);
}
void forward_kernel(const double* x, double* y, const Planes& s, const double* w,
                    const double* b, double eps, double slope, double* mean, double* var,
                    double* rstd, int64_t c0, int64_t c1) {
  forward_f64(x, y, s, w, b, eps, slope, mean, var, rstd, c0, c1);
}
void backward_kernel(const float* g, const float* x, const float* y, const Planes& s,
                     const float* w, const double* mean, const double* rstd, float slope,
                     float* gx, float* gw, float* gb, int64_t c0, int64_t c1) {
  backward_f32(g, x, y, s, w, mean, rstd, slope, gx, gw, gb, c0, c1);
}
void backward_kernel(const double* g, const double* x, const double* y, const Planes& s,
                     const double* w, const double* mean, const double* rstd, double slope,
                     double* gx, double* gw, double* gb, int64_t c0, int64_t c1) {
  backward_f64(g, x, y, s, w, mean, rstd, slope, gx, gw, gb, c0, c1);
}

struct BatchNormLeakyRelu : public torch::autograd::Function<BatchNormLeakyRelu> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               double eps, double slope) {
    const Planes s{x.size(0), x.size(1), x.size(2) * x.size(3)};
    auto y = torch::empty_like(x, at::MemoryFormat::Contiguous);          // like x
    auto stats = torch::empty({3, s.C}, x.options().dtype(torch::kDouble));  // μ, σ², r
    double* st = stats.data_ptr<double>();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_norm_leaky_relu", [&] {
      const auto wc = weight.contiguous(), bc = bias.contiguous();
      at::parallel_for(0, s.C, 1, [&](int64_t c0, int64_t c1) {
        forward_kernel(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), s, wc.data_ptr<scalar_t>(),
                       bc.data_ptr<scalar_t>(), eps, static_cast<scalar_t>(slope), st, st + s.C,
                       st + 2 * s.C, c0, c1);
      });
    });
    auto mean = stats[0].clone(), var = stats[1].clone();  // (C,) each
    ctx->save_for_backward({x, y, weight, stats});
    ctx->saved_data["slope"] = slope;
    ctx->mark_non_differentiable({mean, var});
    return {y, mean, var};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &y = saved[1], &weight = saved[2], &stats = saved[3];
    const double slope = ctx->saved_data["slope"].toDouble();
    const Planes s{x.size(0), x.size(1), x.size(2) * x.size(3)};
    const auto g = grads[0].contiguous();  // like x
    torch::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) gx = torch::empty_like(x);
    if (ctx->needs_input_grad(1)) gw = torch::empty({s.C}, x.options());
    if (ctx->needs_input_grad(2)) gb = torch::empty({s.C}, x.options());
    const double* st = stats.data_ptr<double>();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_norm_leaky_relu_backward", [&] {
      const auto wc = weight.contiguous();
      auto ptr = [](torch::Tensor& t) { return t.defined() ? t.data_ptr<scalar_t>() : nullptr; };
      at::parallel_for(0, s.C, 1, [&](int64_t c0, int64_t c1) {
        backward_kernel(g.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), s,
                        wc.data_ptr<scalar_t>(), st, st + 2 * s.C, static_cast<scalar_t>(slope),
                        ptr(gx), ptr(gw), ptr(gb), c0, c1);
      });
    });
    return {gx, gw, gb, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool batch_norm_leaky_relu_takes(const torch::Tensor& x) {
  return x.defined() && x.dim() == 4 && x.device().is_cpu() &&
         (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble) &&
         x.is_contiguous() && x.size(0) * x.size(2) * x.size(3) > 1;
}

BatchNormActivation batch_norm_leaky_relu(const torch::Tensor& x, const torch::Tensor& weight,
                                          const torch::Tensor& bias, double eps,
                                          double negative_slope) {
  TORCH_CHECK(batch_norm_leaky_relu_takes(x),
              "batch_norm_leaky_relu: expected a row-major (B, C, H, W) float tensor on the CPU "
              "with more than one value per channel, got ",
              x.sizes(), " ", x.scalar_type());
  TORCH_CHECK(negative_slope >= 0.0, "batch_norm_leaky_relu: negative_slope must be >= 0");
  for (const auto* p : {&weight, &bias})
    TORCH_CHECK(!p->defined() || (p->numel() == x.size(1) && p->scalar_type() == x.scalar_type()),
                "batch_norm_leaky_relu: weight and bias must be (", x.size(1), ",) of x's type");
  // Not affine: w = 1, b = 0 (a custom function's inputs must be defined).
  const auto w = weight.defined() ? weight : torch::ones({x.size(1)}, x.options());
  const auto b = bias.defined() ? bias : torch::zeros({x.size(1)}, x.options());
  auto out = BatchNormLeakyRelu::apply(x, w, b, eps, negative_slope);
  return {out[0], out[1], out[2]};
}

}  // namespace sparseloop
