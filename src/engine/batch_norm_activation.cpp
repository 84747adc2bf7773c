#include "sparseloop/engine/batch_norm_activation.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

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

// Channels-last: value (b, c, p) at (b·P + p)·C + c, so a channel is a
// column of the (B·P, C) matrix. Walking it column by column (the row-major
// kernels' order) would read the whole tensor once per channel; these walk
// rows and vectorize across channels, with per-channel partial sums kept per
// chunk of kChunkRows rows (each T partial adds at most kChunkRows terms, as
// the row-major kernels flush every kFlush/kLanes) and summed in float64 in
// chunk order: the same values whatever the thread count. LibTorch 1.13's
// own channels-last BatchNorm sums in float32 over the whole batch: 5e-6 from
// float64 on zero-mean data and 2e-3 on data of mean 100 and deviation 0.1,
// 14–50× the row-major kernel's error (docs/performance.md, "SDNet: cold
// estimates by Lanczos, channels-last activations").
constexpr int64_t kChunkRows = 256;

// Each pass below is a row loop around a channel loop written out with
// restrict pointers: through the generic lambdas of the row-major kernels
// GCC could not prove the partial sums apart from the inputs and kept them in
// memory, scalar (backward 13 ms for b128 16×32², LibTorch's 4.7).

/// Σ x per channel over rows [r0, r1) into s[c], accumulated in float64 as
/// LibTorch's row-major kernel does: a constant channel (a dead unit) then
/// has its value as its mean exactly, x − μ = 0 and its output is the bias,
/// not ±ulp·r noise for a ReLU after it to gate.
template <typename T>
SPARSELOOP_ALWAYS_INLINE void cl_mean_sums(const T* __restrict x, int64_t C, int64_t r0,
                                           int64_t r1, double* __restrict s) {
  for (int64_t c = 0; c < C; ++c) s[c] = 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const T* __restrict xr = x + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) s[c] += static_cast<double>(xr[c]);
  }
}

/// Σ (x − m)² per channel over rows [r0, r1).
template <typename T>
SPARSELOOP_ALWAYS_INLINE void cl_var_sums(const T* __restrict x, const T* __restrict m, int64_t C,
                                          int64_t r0, int64_t r1, T* __restrict a, double* s) {
  for (int64_t c = 0; c < C; ++c) a[c] = T(0);
  for (int64_t r = r0; r < r1; ++r) {
    const T* __restrict xr = x + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const T d = xr[c] - m[c];
      a[c] += d * d;
    }
  }
  for (int64_t c = 0; c < C; ++c) s[c] = static_cast<double>(a[c]);
}

template <typename T>
SPARSELOOP_ALWAYS_INLINE void cl_output(const T* __restrict x, T* __restrict y,
                                        const T* __restrict m, const T* __restrict scale,
                                        const T* __restrict shift, T slope, int64_t C, int64_t r0,
                                        int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* __restrict xr = x + r * C;
    T* __restrict yr = y + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const T u = (xr[c] - m[c]) * scale[c] + shift[c];
      yr[c] = u > T(0) ? u : u * slope;
    }
  }
}

/// Σ g' and Σ g'·x̂ per channel over rows [r0, r1) (g' = g·act'(y)).
template <typename T>
SPARSELOOP_ALWAYS_INLINE void cl_grad_sums(const T* __restrict g, const T* __restrict x,
                                           const T* __restrict y, const T* __restrict m,
                                           const T* __restrict rs, T slope, int64_t C, int64_t r0,
                                           int64_t r1, T* __restrict a, T* __restrict b,
                                           double* s1, double* s2) {
  for (int64_t c = 0; c < C; ++c) a[c] = b[c] = T(0);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * C;
    const T *__restrict gr = g + o, *__restrict xr = x + o, *__restrict yr = y + o;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const T gp = yr[c] > T(0) ? gr[c] : gr[c] * slope;
      a[c] += gp;
      b[c] += gp * ((xr[c] - m[c]) * rs[c]);
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    s1[c] = static_cast<double>(a[c]);
    s2[c] = static_cast<double>(b[c]);
  }
}

template <typename T>
SPARSELOOP_ALWAYS_INLINE void cl_input_grad(const T* __restrict g, const T* __restrict x,
                                            const T* __restrict y, const T* __restrict m,
                                            const T* __restrict rs, const T* __restrict scale,
                                            const T* __restrict mean_g,
                                            const T* __restrict mean_gx, T slope,
                                            T* __restrict gx, int64_t C, int64_t r0, int64_t r1) {
  for (int64_t row = r0; row < r1; ++row) {
    const int64_t o = row * C;
    const T *__restrict gr = g + o, *__restrict xr = x + o, *__restrict yr = y + o;
    T* __restrict out = gx + o;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const T gp = yr[c] > T(0) ? gr[c] : gr[c] * slope;
      out[c] = scale[c] * (gp - mean_g[c] - (xr[c] - m[c]) * rs[c] * mean_gx[c]);
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

// The channels-last passes, one clone set per element type.
#define SPARSELOOP_CL_CLONES(T, S)                                                            \
  SPARSELOOP_SIMD_CLONES void cl_mean_sums_##S(const T* x, int64_t C, int64_t r0, int64_t r1, \
                                               double* s) {                                 \
    cl_mean_sums<T>(x, C, r0, r1, s);                                                       \
  }                                                                                         \
  SPARSELOOP_SIMD_CLONES void cl_var_sums_##S(const T* x, const T* m, int64_t C, int64_t r0, \
                                              int64_t r1, T* a, double* s) {                \
    cl_var_sums<T>(x, m, C, r0, r1, a, s);                                                  \
  }                                                                                         \
  SPARSELOOP_SIMD_CLONES void cl_output_##S(const T* x, T* y, const T* m, const T* a,        \
                                            const T* shift, T slope, int64_t C, int64_t r0, \
                                            int64_t r1) {                                   \
    cl_output<T>(x, y, m, a, shift, slope, C, r0, r1);                                      \
  }                                                                                         \
  SPARSELOOP_SIMD_CLONES void cl_grad_sums_##S(const T* g, const T* x, const T* y,           \
                                               const T* m, const T* r, T slope, int64_t C,  \
                                               int64_t r0, int64_t r1, T* a, T* b,          \
                                               double* s1, double* s2) {                    \
    cl_grad_sums<T>(g, x, y, m, r, slope, C, r0, r1, a, b, s1, s2);                         \
  }                                                                                         \
  SPARSELOOP_SIMD_CLONES void cl_input_grad_##S(                                             \
      const T* g, const T* x, const T* y, const T* m, const T* r, const T* scale,           \
      const T* mean_g, const T* mean_gx, T slope, T* gx, int64_t C, int64_t r0, int64_t r1) { \
    cl_input_grad<T>(g, x, y, m, r, scale, mean_g, mean_gx, slope, gx, C, r0, r1);          \
  }                                                                                         \
  void cl_mean_sums_k(const T* x, int64_t C, int64_t r0, int64_t r1, double* s) {           \
    cl_mean_sums_##S(x, C, r0, r1, s);                                                      \
  }                                                                                         \
  void cl_var_sums_k(const T* x, const T* m, int64_t C, int64_t r0, int64_t r1, T* a,        \
                     double* s) {                                                           \
    cl_var_sums_##S(x, m, C, r0, r1, a, s);                                                 \
  }                                                                                         \
  void cl_output_k(const T* x, T* y, const T* m, const T* a, const T* shift, T slope,        \
                   int64_t C, int64_t r0, int64_t r1) {                                     \
    cl_output_##S(x, y, m, a, shift, slope, C, r0, r1);                                     \
  }                                                                                         \
  void cl_grad_sums_k(const T* g, const T* x, const T* y, const T* m, const T* r, T slope,   \
                      int64_t C, int64_t r0, int64_t r1, T* a, T* b, double* s1,            \
                      double* s2) {                                                         \
    cl_grad_sums_##S(g, x, y, m, r, slope, C, r0, r1, a, b, s1, s2);                        \
  }                                                                                         \
  void cl_input_grad_k(const T* g, const T* x, const T* y, const T* m, const T* r,           \
                       const T* scale, const T* mean_g, const T* mean_gx, T slope, T* gx,   \
                       int64_t C, int64_t r0, int64_t r1) {                                 \
    cl_input_grad_##S(g, x, y, m, r, scale, mean_g, mean_gx, slope, gx, C, r0, r1);         \
  }
SPARSELOOP_CL_CLONES(float, f32)
SPARSELOOP_CL_CLONES(double, f64)
#undef SPARSELOOP_CL_CLONES

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

/// Runs body(k, a, b) for every chunk k of kChunkRows rows, in parallel, with
/// two C-long scratch rows per task.
template <typename T, typename Body>
void for_each_chunk(int64_t rows, int64_t C, const Body& body) {
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  at::parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    std::vector<T> a(C), b(C);
    for (int64_t k = k0; k < k1; ++k)
      body(k * kChunkRows, std::min(rows, (k + 1) * kChunkRows), k, a.data(), b.data());
  });
}

/// Σ over chunks, in chunk order, of the (chunks, C) partials p.
void sum_chunks(const std::vector<double>& p, int64_t C, double* out) {
  for (int64_t c = 0; c < C; ++c) out[c] = 0.0;
  for (size_t k = 0; k * C < p.size(); ++k)
    for (int64_t c = 0; c < C; ++c) out[c] += p[k * C + c];
}

/// The forward of batch_norm_leaky_relu on a channels-last (R = B·H·W rows, C)
/// tensor: the row-major kernels' three passes (mean, centred squares, output).
template <typename T>
void forward_channels_last(const T* x, T* y, int64_t R, int64_t C, const T* w, const T* bias,
                           double eps, T slope, double* mean, double* var, double* rstd) {
  const int64_t chunks = (R + kChunkRows - 1) / kChunkRows;
  const double n = static_cast<double>(R);
  std::vector<double> p1(chunks * C);
  for_each_chunk<T>(R, C, [&](int64_t r0, int64_t r1, int64_t k, T*, T*) {
    cl_mean_sums_k(x, C, r0, r1, &p1[k * C]);
  });
  sum_chunks(p1, C, mean);
  std::vector<T> m(C), scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    mean[c] /= n;
    m[c] = static_cast<T>(mean[c]);
  }
  for_each_chunk<T>(R, C, [&](int64_t r0, int64_t r1, int64_t k, T* a, T*) {
    cl_var_sums_k(x, m.data(), C, r0, r1, a, &p1[k * C]);
  });
  sum_chunks(p1, C, var);
  for (int64_t c = 0; c < C; ++c) {
    var[c] /= n;  // biased
    rstd[c] = 1.0 / std::sqrt(var[c] + eps);
    scale[c] = static_cast<T>(rstd[c] * static_cast<double>(w[c]));
    shift[c] = bias[c];
  }
  at::parallel_for(0, R, kChunkRows, [&](int64_t r0, int64_t r1) {
    cl_output_k(x, y, m.data(), scale.data(), shift.data(), slope, C, r0, r1);
  });
}

/// Its backward: the per-channel sums, then ∂L/∂x (formulas at backward_channels).
template <typename T>
void backward_channels_last(const T* g, const T* x, const T* y, int64_t R, int64_t C,
                            const T* w, const double* mean, const double* rstd, T slope, T* gx,
                            T* gw, T* gb) {
  const int64_t chunks = (R + kChunkRows - 1) / kChunkRows;
  const double n = static_cast<double>(R);
  std::vector<T> m(C), r(C), scale(C), mean_g(C), mean_gx(C);
  for (int64_t c = 0; c < C; ++c) {
    m[c] = static_cast<T>(mean[c]);
    r[c] = static_cast<T>(rstd[c]);
  }
  std::vector<double> p1(chunks * C), p2(chunks * C), sg(C), sgx(C);
  for_each_chunk<T>(R, C, [&](int64_t r0, int64_t r1, int64_t k, T* a, T* b) {
    cl_grad_sums_k(g, x, y, m.data(), r.data(), slope, C, r0, r1, a, b, &p1[k * C], &p2[k * C]);
  });
  sum_chunks(p1, C, sg.data());
  sum_chunks(p2, C, sgx.data());
  for (int64_t c = 0; c < C; ++c) {
    if (gw) gw[c] = static_cast<T>(sgx[c]);
    if (gb) gb[c] = static_cast<T>(sg[c]);
    scale[c] = static_cast<T>(rstd[c] * static_cast<double>(w[c]));
    mean_g[c] = static_cast<T>(sg[c] / n);
    mean_gx[c] = static_cast<T>(sgx[c] / n);
  }
  if (!gx) return;
  at::parallel_for(0, R, kChunkRows, [&](int64_t r0, int64_t r1) {
    cl_input_grad_k(g, x, y, m.data(), r.data(), scale.data(), mean_g.data(), mean_gx.data(),
                    slope, gx, C, r0, r1);
  });
}

/// (B, C, H, W) stored channels-last and not also row-major (C > 1).
bool channels_last_only(const torch::Tensor& x) {
  return x.size(1) > 1 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

struct BatchNormLeakyRelu : public torch::autograd::Function<BatchNormLeakyRelu> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               double eps, double slope) {
    const Planes s{x.size(0), x.size(1), x.size(2) * x.size(3)};
    const bool cl = channels_last_only(x);
    auto y = torch::empty_like(x, cl ? at::MemoryFormat::ChannelsLast
                                     : at::MemoryFormat::Contiguous);  // like x
    auto stats = torch::empty({3, s.C}, x.options().dtype(torch::kDouble));  // μ, σ², r
    double* st = stats.data_ptr<double>();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_norm_leaky_relu", [&] {
      const auto wc = weight.contiguous(), bc = bias.contiguous();
      if (cl) {
        forward_channels_last(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), s.B * s.P, s.C,
                              wc.data_ptr<scalar_t>(), bc.data_ptr<scalar_t>(), eps,
                              static_cast<scalar_t>(slope), st, st + s.C, st + 2 * s.C);
        return;
      }
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
    const bool cl = channels_last_only(x);
    const auto g = grads[0].contiguous(cl ? at::MemoryFormat::ChannelsLast
                                          : at::MemoryFormat::Contiguous);  // like x
    torch::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) gx = torch::empty_like(x);
    if (ctx->needs_input_grad(1)) gw = torch::empty({s.C}, x.options());
    if (ctx->needs_input_grad(2)) gb = torch::empty({s.C}, x.options());
    const double* st = stats.data_ptr<double>();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_norm_leaky_relu_backward", [&] {
      const auto wc = weight.contiguous();
      auto ptr = [](torch::Tensor& t) { return t.defined() ? t.data_ptr<scalar_t>() : nullptr; };
      if (cl) {
        backward_channels_last(g.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(),
                               y.data_ptr<scalar_t>(), s.B * s.P, s.C, wc.data_ptr<scalar_t>(), st,
                               st + 2 * s.C, static_cast<scalar_t>(slope), ptr(gx), ptr(gw),
                               ptr(gb));
        return;
      }
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
         (x.is_contiguous() || x.is_contiguous(at::MemoryFormat::ChannelsLast)) &&
         x.size(0) * x.size(2) * x.size(3) > 1;
}

BatchNormActivation batch_norm_leaky_relu(const torch::Tensor& x, const torch::Tensor& weight,
                                          const torch::Tensor& bias, double eps,
                                          double negative_slope) {
  TORCH_CHECK(batch_norm_leaky_relu_takes(x),
              "batch_norm_leaky_relu: expected a row-major or channels-last (B, C, H, W) float "
              "tensor on the CPU "
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
