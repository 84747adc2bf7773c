#include "sparseloop/sparse/proximal_gradient.h"

#include <cmath>

#include <type_traits>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "sparseloop/util/distributed.h"
#include "sparseloop/util/simd.h"

namespace sparseloop {

torch::Tensor SmoothPart::step_from(const torch::Tensor& y, double step) const {
  if (forward_step) return forward_step(y, step);
  return torch::add(y, grad(y), -step);  // y − η∇f(y)
}

namespace {

/// Per-sample ℓ2 norm over all but dim 0: (B, ...) → (B,).
torch::Tensor sample_norm(const torch::Tensor& t) {
  return t.reshape({t.size(0), -1}).norm(2, 1);
}

/// A (B,) mask shaped to broadcast over a batch like `like`: (B, 1, …).
torch::Tensor per_sample(const torch::Tensor& mask, const torch::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return mask.view(shape);
}

/// FISTA's t-sequence (Beck & Teboulle 2009): t₁ = 1, t_{k+1} = (1 + √(1 + 4t_k²))/2,
/// y_{k+1} = z_k + ((t_k − 1)/t_{k+1})(z_k − z_{k−1}). `next()` returns the
/// coefficient (t_k − 1)/t_{k+1} for the iterate just computed; the first is 0,
/// so two FISTA steps are two ISTA steps.
struct MomentumSchedule {
  Momentum policy;
  double t = 1.0;
  double next() {
    if (policy == Momentum::kNone) return 0.0;
    const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
    const double c = (t - 1.0) / t_next;
    t = t_next;
    return c;
  }
};

/// The first iterate z₁ = prox(z₀ − η∇f(z₀)), from z₀ = 0 without applying f's
/// operator to zeros when the problem can.
torch::Tensor first_forward_step(const SmoothPart& f, const torch::Tensor& z0, double eta) {
  if (z0.defined()) return f.step_from(z0, eta);
  TORCH_CHECK(static_cast<bool>(f.forward_step_from_zero),
              "proximal_gradient: no start given and the problem has no forward_step_from_zero");
  return f.forward_step_from_zero(eta);
}

/// Which derivative the prox has: relu's (non-negative), softshrink's, or
/// the identity's (τ = 0 applies no threshold, prox.cpp).
enum class Support { kNonnegative, kSoft, kAll };

// The loops take every pointer valid and their variant as a template
// argument, so that each body is branch-free and vectorizes (a null-pointer
// or flag test per element made the backward a scalar loop: 20 % of a 3→64
// layer's forward+backward). GCC's default -ftrapping-math forbids turning
// `on ? shrink·g : 0` into a select (the product might trap when `on` is
// false), which kept the loop scalar and branchy; nothing here enables FP
// exceptions, so these kernels are compiled without it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#define SPARSELOOP_IVDEP _Pragma("GCC ivdep")
#else
#define SPARSELOOP_IVDEP
#endif
template <class T, Support S, bool HasPrev>
SPARSELOOP_ALWAYS_INLINE void fused_forward_range(const T* vp, const T* zp, T* __restrict__ znp,
                                                  T* __restrict__ ynp, int64_t begin, int64_t end,
                                                  T tau, T shrink, T c) {
  SPARSELOOP_IVDEP
  for (int64_t i = begin; i < end; ++i) {
    const T vi = vp[i];
    T zn;
    if constexpr (S == Support::kNonnegative) {
      const T d = vi - tau;
      zn = d < T(0) ? T(0) : d;  // relu(v − τ), NaN kept
    } else if constexpr (S == Support::kSoft) {
      zn = vi > tau ? vi - tau : (vi < -tau ? vi + tau : T(0));  // softshrink
    } else {
      zn = vi;
    }
    zn *= shrink;
    znp[i] = zn;
    if constexpr (HasPrev) {
      ynp[i] = zn + c * (zn - zp[i]);
    } else {
      ynp[i] = zn + c * zn;  // z₀ = 0
    }
  }
}

template <class T, Support S>
SPARSELOOP_ALWAYS_INLINE void fused_backward_range(const T* __restrict__ gz,
                                                   const T* __restrict__ gy,
                                                   const T* __restrict__ vp, T* __restrict__ gv,
                                                   T* __restrict__ gzp, int64_t begin,
                                                   int64_t end, T tau, T shrink, T c) {
  SPARSELOOP_IVDEP
  for (int64_t i = begin; i < end; ++i) {
    const T g = gz[i] + (T(1) + c) * gy[i];
    const T vi = vp[i];
    bool on;  // relu's backward: v − τ > 0; softshrink's: not −τ ≤ v ≤ τ (NaN passes)
    if constexpr (S == Support::kNonnegative) {
      on = vi - tau > T(0);
    } else if constexpr (S == Support::kSoft) {
      on = !(vi >= -tau && vi <= tau);
    } else {
      on = true;
    }
    gv[i] = on ? shrink * g : T(0);  // a select, not a branch: the loop vectorizes
    gzp[i] = -c * gy[i];
  }
}

#define SPARSELOOP_FUSED_VARIANTS(T, suffix)                                                    \
  SPARSELOOP_SIMD_CLONES void fused_forward_##suffix(const T* v, const T* z, T* zn, T* yn,       \
                                                     int64_t b, int64_t e, T tau, T shrink, T c, \
                                                     Support s) {                                \
    if (z == nullptr) {                                                                          \
      if (s == Support::kNonnegative)                                                            \
        fused_forward_range<T, Support::kNonnegative, false>(v, z, zn, yn, b, e, tau, shrink, c); \
      else if (s == Support::kSoft)                                                              \
        fused_forward_range<T, Support::kSoft, false>(v, z, zn, yn, b, e, tau, shrink, c);       \
      else                                                                                       \
        fused_forward_range<T, Support::kAll, false>(v, z, zn, yn, b, e, tau, shrink, c);        \
    } else if (s == Support::kNonnegative) {                                                     \
      fused_forward_range<T, Support::kNonnegative, true>(v, z, zn, yn, b, e, tau, shrink, c);   \
    } else if (s == Support::kSoft) {                                                            \
      fused_forward_range<T, Support::kSoft, true>(v, z, zn, yn, b, e, tau, shrink, c);          \
    } else {                                                                                     \
      fused_forward_range<T, Support::kAll, true>(v, z, zn, yn, b, e, tau, shrink, c);           \
    }                                                                                            \
  }                                                                                              \
  SPARSELOOP_SIMD_CLONES void fused_backward_##suffix(const T* gz, const T* gy, const T* v,     \
                                                      T* gv, T* gzp, int64_t b, int64_t e,       \
                                                      T tau, T shrink, T c, Support s) {         \
    if (s == Support::kNonnegative)                                                              \
      fused_backward_range<T, Support::kNonnegative>(gz, gy, v, gv, gzp, b, e, tau, shrink, c);  \
    else if (s == Support::kSoft)                                                                \
      fused_backward_range<T, Support::kSoft>(gz, gy, v, gv, gzp, b, e, tau, shrink, c);         \
    else                                                                                         \
      fused_backward_range<T, Support::kAll>(gz, gy, v, gv, gzp, b, e, tau, shrink, c);          \
  }
SPARSELOOP_FUSED_VARIANTS(float, f32)
SPARSELOOP_FUSED_VARIANTS(double, f64)
#undef SPARSELOOP_FUSED_VARIANTS
#undef SPARSELOOP_IVDEP
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

// Overloads on the element type for AT_DISPATCH's lambdas (not templates, so
// an `if constexpr` there would still compile both branches).
void fused_forward(const float* v, const float* z, float* zn, float* yn, int64_t b, int64_t e,
                   double tau, double shrink, double c, Support s) {
  fused_forward_f32(v, z, zn, yn, b, e, static_cast<float>(tau), static_cast<float>(shrink),
                    static_cast<float>(c), s);
}
void fused_forward(const double* v, const double* z, double* zn, double* yn, int64_t b, int64_t e,
                   double tau, double shrink, double c, Support s) {
  fused_forward_f64(v, z, zn, yn, b, e, tau, shrink, c, s);
}
void fused_backward(const float* gz, const float* gy, const float* v, float* gv, float* gzp,
                    int64_t b, int64_t e, double tau, double shrink, double c, Support s) {
  fused_backward_f32(gz, gy, v, gv, gzp, b, e, static_cast<float>(tau), static_cast<float>(shrink),
                     static_cast<float>(c), s);
}
void fused_backward(const double* gz, const double* gy, const double* v, double* gv, double* gzp,
                    int64_t b, int64_t e, double tau, double shrink, double c, Support s) {
  fused_backward_f64(gz, gy, v, gv, gzp, b, e, tau, shrink, c, s);
}

Support support_of(bool nonneg, double tau) {
  return nonneg ? Support::kNonnegative : (tau > 0.0 ? Support::kSoft : Support::kAll);
}

/// Whether the fused step can run on these tensors: CPU, contiguous, float32
/// or float64, all of one dtype (other devices take the tensor ops).
bool fusable(const torch::Tensor& v, const torch::Tensor& z_prev) {
  const auto t = v.scalar_type();
  return v.device().is_cpu() && v.is_contiguous() && (t == torch::kFloat || t == torch::kDouble) &&
         (!z_prev.defined() || (z_prev.is_contiguous() && z_prev.scalar_type() == t &&
                                z_prev.sizes().equals(v.sizes())));
}

/// One pass per FISTA step under autograd: from v = y − η∇f(y),
///   z_new = prox_{ηg}(v),   y_next = z_new + c·(z_new − z_prev),
/// where tensor ops took four to five passes over the codes forward (the
/// prox's one or two, the difference, the extrapolation) and as many
/// backward (issue 12: "one fused pass per FISTA step over the codes"). The
/// backward is the same chain rule in one pass:
///   ḡ = g_z + (1 + c)·g_y,  g_v = ∂prox ⊙ ḡ,  g_{z_prev} = −c·g_y,
/// with ∂prox = shrink on the support (z_new ≠ 0; z_new > 0 when non-negative)
/// and 0 off it: the subgradient convention of torch's softshrink and relu
/// backward, NaN included. Saves v alone (the support).
struct FusedFistaStep : public torch::autograd::Function<FusedFistaStep> {
  /// z_prev empty: z₀ = 0.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& v,
                                                const torch::Tensor& z_prev, double tau,
                                                double shrink, bool nonneg, double c) {
    auto zn = torch::empty_like(v), yn = torch::empty_like(v);
    // z₀ = 0 travels as an empty z_prev: the kernel then reads no previous iterate.
    AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "fused_fista_step", [&] {
      const scalar_t* vp = v.data_ptr<scalar_t>();
      const scalar_t* zp = z_prev.numel() > 0 ? z_prev.data_ptr<scalar_t>() : nullptr;
      scalar_t* znp = zn.data_ptr<scalar_t>();
      scalar_t* ynp = yn.data_ptr<scalar_t>();
      at::parallel_for(0, v.numel(), 1 << 15, [&](int64_t b, int64_t e) {
        fused_forward(vp, zp, znp, ynp, b, e, tau, shrink, c, support_of(nonneg, tau));
      });
    });
    ctx->save_for_backward({v});  // the support, as softshrink's and relu's backward read it
    ctx->saved_data["tau"] = tau;
    ctx->saved_data["shrink"] = shrink;
    ctx->saved_data["nonneg"] = nonneg;
    ctx->saved_data["c"] = c;
    return {zn, yn};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto v = ctx->get_saved_variables()[0];
    const double tau = ctx->saved_data["tau"].toDouble();
    const double shrink = ctx->saved_data["shrink"].toDouble();
    const bool nonneg = ctx->saved_data["nonneg"].toBool();
    const double c = ctx->saved_data["c"].toDouble();
    // Missing output gradients are zeros (the last step's y, an unused z).
    auto gz = grads[0].defined() ? grads[0].contiguous() : torch::zeros_like(v);
    auto gy = grads[1].defined() ? grads[1].contiguous() : torch::zeros_like(v);
    auto gv = torch::empty_like(v);
    auto gzp = torch::empty_like(v);  // written always (branch-free loop); returned when needed
    AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "fused_fista_step_backward", [&] {
      const scalar_t* gzd = gz.data_ptr<scalar_t>();
      const scalar_t* gyd = gy.data_ptr<scalar_t>();
      const scalar_t* vd = v.data_ptr<scalar_t>();
      scalar_t* gvd = gv.data_ptr<scalar_t>();
      scalar_t* gzpd = gzp.data_ptr<scalar_t>();
      at::parallel_for(0, v.numel(), 1 << 15, [&](int64_t b, int64_t e) {
        fused_backward(gzd, gyd, vd, gvd, gzpd, b, e, tau, shrink, c, support_of(nonneg, tau));
      });
    });
    if (!ctx->needs_input_grad(1)) gzp = torch::Tensor();  // the empty z₀
    return {gv, gzp, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

/// Iterations between two checks of a distributed global batch's stop.
constexpr int64_t kGlobalStopEvery = 4;

/// The whole batch iterates together: exactly `iterations` steps (tolerance 0),
/// or with converged samples masked (frozen, or the authors' rule). In-place
/// arithmetic when no autograd graph is being recorded.
ProximalGradientResult full_batch(const SmoothPart& f, const Prox& g,
                                  const ProximalGradientOptions& o, const torch::Tensor& z0) {
  const double eta = o.step();
  const bool inplace = !torch::GradMode::is_enabled();
  const bool check_stop = o.tolerance() > 0;
  const bool authors = o.stop_rule() == StopRule::kAuthors;
  MomentumSchedule momentum{o.momentum()};
  torch::Tensor z = z0;  // current iterate z_k (undefined: 0)
  torch::Tensor y = z0;  // extrapolated point
  torch::Tensor diff;    // z_{k+1} − z_k
  torch::Tensor stopped, stopped_b, sample_steps;  // (B,), (B, 1, …), (B,)
  bool any_stopped = false;
  // Under autograd without a stop test: the fused step where an
  // extrapolation is built (FISTA beyond its first step); plain tensor ops
  // otherwise (a prox alone is already one kernel).
  const bool fuse = !inplace && !check_stop && o.momentum() == Momentum::kFista &&
                    o.iterations() > 2;
  int64_t k = 0;
  for (; k < o.iterations(); ++k) {
    // v = prox(y − η∇f(y)); flagged samples (authors) take prox(y) with no
    // gradient and no threshold.
    torch::Tensor v = k == 0 ? first_forward_step(f, z0, eta) : f.step_from(y, eta);
    if (fuse && fusable(v, z)) {
      // Prox, difference and extrapolation in one autograd node (above).
      const double c = momentum.next();
      const auto& p = g.options();
      // z₀ = 0 travels as an empty tensor: autograd functions take no undefined inputs.
      auto out = FusedFistaStep::apply(v, z.defined() ? z : torch::empty({0}, v.options()),
                                       eta * p.lambda(), 1.0 / (1.0 + eta * p.mu()),
                                       p.nonnegative(), c);
      z = out[0];
      y = c == 0.0 || k + 1 == o.iterations() ? z : out[1];
      continue;
    }
    if (authors && any_stopped) {
      v = torch::where(stopped_b, g(y, 0.0), g(v, eta));
    } else if (inplace) {
      g.apply_(v, eta);
    } else {
      v = g(v, eta);
    }
    if (check_stop && !stopped.defined()) {
      const auto bool_opts = v.options().dtype(torch::kBool);
      stopped = torch::zeros({v.size(0)}, bool_opts);
      stopped_b = per_sample(stopped, v);
      sample_steps = torch::zeros({v.size(0)}, v.options().dtype(torch::kLong));
    }
    if (!authors && any_stopped) v = torch::where(stopped_b, z, v);  // frozen codes stay
    const double c = momentum.next();
    if (!check_stop && (c == 0.0 || k + 1 == o.iterations())) {
      // No stop test and no extrapolation to build: z_{k+1} − z_k is not
      // needed. The common unrolled case (2 FISTA steps in CSC-CTRL and
      // SDNet: c = 0 at the first, no next step after the second) otherwise
      // paid a zeros tensor and a subtraction per step, and their backward.
      z = v;
      y = v;
      continue;
    }
    if (!z.defined()) z = torch::zeros_like(v);  // z₀ = 0, now that its shape is known
    // z_{k+1} − z_k, into a buffer reused across iterations when no graph is recorded.
    if (inplace) {
      if (!diff.defined() || !diff.sizes().equals(v.sizes())) diff = torch::empty_like(v);
      at::sub_out(diff, v, z);
    } else {
      diff = v - z;
    }
    if (check_stop) {
      auto change = sample_norm(diff);  // (B,)
      auto base = sample_norm(z);       // (B,)
      if (authors) {
        auto converged = (base > 0).logical_and(change < o.tolerance() * base);  // NaN → false
        stopped.copy_(converged);
        sample_steps.add_(converged.logical_not());
      } else {
        // 0/0 (a code that stays 0) is converged; x/0 with x > 0 is not.
        auto converged = torch::where(base > 0, change < o.tolerance() * base, change == 0);
        sample_steps.add_(stopped.logical_not());
        stopped.logical_or_(converged);
      }
    }
    z = v;
    y = c == 0.0 ? z : torch::add(z, diff, c);  // one pass: z + c·diff
    if (check_stop) {
      int64_t n_stopped = stopped.sum().item<int64_t>();
      int64_t n_samples = z.size(0);
      any_stopped = n_stopped > 0;
      // Every rank iterates until the global batch has stopped. Frozen codes
      // no longer move, so asking the other ranks only every few iterations
      // changes nothing but the trailing no-op iterations and saves most of
      // the collectives, whose latency bounds a small problem's speed (the
      // authors' rule can unfreeze a sample: it asks every iteration).
      const bool ask = (k + 1) % (authors ? 1 : kGlobalStopEvery) == 0 || k + 1 == o.iterations();
      if (f.global_batch && distributed() && !ask) {
        n_stopped = -1;  // not this iteration
      } else if (f.global_batch && distributed()) {
        auto counts = torch::tensor({static_cast<double>(n_stopped), static_cast<double>(n_samples)},
                                    torch::kDouble);
        world().allreduce_sum(counts);
        n_stopped = static_cast<int64_t>(counts[0].item<double>());
        n_samples = static_cast<int64_t>(counts[1].item<double>());
      }
      if (n_stopped == n_samples) {
        ++k;
        break;
      }
    }
  }
  ProximalGradientResult r;
  r.z = z;
  r.iterations = k;
  r.sample_iterations = check_stop ? sample_steps.cpu()
                                   : torch::full({z.size(0)}, k, torch::kLong);
  return r;
}

/// The end of one iteration, in one pass over contiguous CPU buffers:
///   z_new = prox_{ηg}(v),  y = z_new + c(z_new − z),  z = z_new
/// (the prox of prox.h written per element: soft or non-negative threshold,
/// then the elastic-net scaling). Four tensor passes and an allocation
/// otherwise; at VDL's size (250×128 codes) their dispatch, not their
/// arithmetic, was most of a step (docs/performance.md, VDL inference).
template <class T>
SPARSELOOP_ALWAYS_INLINE void finish_range(const T* vp, T* zp, T* yp, int64_t begin, int64_t end,
                                           T tau, T shrink, bool scale, bool nonneg, T cm) {
  for (int64_t i = begin; i < end; ++i) {
    const T vi = vp[i];
    T zn;
    if (nonneg) {
      const T d = vi - tau;
      zn = d < T(0) ? T(0) : d;  // max(v − τ, 0), NaN kept
    } else {
      zn = vi > tau ? vi - tau : (vi < -tau ? vi + tau : (tau > T(0) ? T(0) : vi));
    }
    if (scale) zn *= shrink;
    const T diff = zn - zp[i];
    zp[i] = zn;
    yp[i] = zn + cm * diff;
  }
}
SPARSELOOP_SIMD_CLONES void finish_range_f32(const float* vp, float* zp, float* yp, int64_t begin,
                                             int64_t end, float tau, float shrink, bool scale,
                                             bool nonneg, float cm) {
  finish_range<float>(vp, zp, yp, begin, end, tau, shrink, scale, nonneg, cm);
}
SPARSELOOP_SIMD_CLONES void finish_range_f64(const double* vp, double* zp, double* yp,
                                             int64_t begin, int64_t end, double tau, double shrink,
                                             bool scale, bool nonneg, double cm) {
  finish_range<double>(vp, zp, yp, begin, end, tau, shrink, scale, nonneg, cm);
}

/// The end of one iteration, in one pass over contiguous CPU buffers:
///   z_new = prox_{ηg}(v),  y = z_new + c(z_new − z),  z = z_new
/// (the prox of prox.h written per element: soft or non-negative threshold,
/// then the elastic-net scaling). Four tensor passes and an allocation
/// otherwise; at VDL's size (250×128 codes) their dispatch, not their
/// arithmetic, was most of a step (docs/performance.md, VDL inference).
template <class T>
void finish_step_cpu(const torch::Tensor& v, torch::Tensor& z, torch::Tensor& y,
                     const ProxOptions& p, double eta, double c) {
  const T tau = static_cast<T>(eta * p.lambda());
  const T shrink = static_cast<T>(1.0 / (1.0 + eta * p.mu()));
  const bool scale = p.mu() > 0.0, nonneg = p.nonnegative();
  const T cm = static_cast<T>(c);
  const T* vp = v.data_ptr<T>();
  T* zp = z.data_ptr<T>();
  T* yp = y.data_ptr<T>();
  at::parallel_for(0, v.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
    if constexpr (std::is_same_v<T, float>) {
      finish_range_f32(vp, zp, yp, begin, end, tau, shrink, scale, nonneg, cm);
    } else {
      finish_range_f64(vp, zp, yp, begin, end, tau, shrink, scale, nonneg, cm);
    }
  });
}

/// The same with tensor ops (CUDA, other dtypes), still into the buffers.
void finish_step(torch::Tensor& v, torch::Tensor& z, torch::Tensor& y, torch::Tensor& diff,
                 const Prox& g, double eta, double c) {
  const bool cpu = v.device().is_cpu() && v.is_contiguous() && z.is_contiguous() &&
                   y.is_contiguous();
  if (cpu && v.scalar_type() == torch::kFloat) {
    finish_step_cpu<float>(v, z, y, g.options(), eta, c);
  } else if (cpu && v.scalar_type() == torch::kDouble) {
    finish_step_cpu<double>(v, z, y, g.options(), eta, c);
  } else {
    g.apply_(v, eta);
    if (!diff.defined()) diff = torch::empty_like(v);
    at::sub_out(diff, v, z);
    z.copy_(v);
    at::add_out(y, z, diff, c);
  }
}

/// Fixed iterations without autograd (tolerance 0): the problem writes its
/// forward step into `v` when it can (forward_step_into), and the rest of the
/// iteration is finish_step: no allocation per iteration, bit for bit the
/// arithmetic of full_batch up to the order of floating-point operations.
ProximalGradientResult fused_batch(const SmoothPart& f, const Prox& g,
                                   const ProximalGradientOptions& o, const torch::Tensor& z0) {
  const double eta = o.step();
  MomentumSchedule momentum{o.momentum()};
  torch::Tensor v = first_forward_step(f, z0, eta).contiguous();
  torch::Tensor z = z0.defined() ? z0.detach().clone(at::MemoryFormat::Contiguous)
                                 : torch::zeros_like(v);  // z₀, a buffer of our own
  torch::Tensor y = torch::empty_like(z);
  torch::Tensor diff;  // only the tensor-op path uses it
  for (int64_t k = 0; k < o.iterations(); ++k) {
    if (k > 0) {
      if (f.forward_step_into) {
        f.forward_step_into(y, eta, v);
      } else {
        v = f.step_from(y, eta).contiguous();
      }
    }
    finish_step(v, z, y, diff, g, eta, momentum.next());
  }
  ProximalGradientResult r;
  r.z = z;
  r.iterations = o.iterations();
  r.sample_iterations = torch::full({z.size(0)}, o.iterations(), torch::kLong);
  return r;
}

/// Separable problems with frozen samples: converged samples leave the batch,
/// so the work shrinks as samples converge (differentiable: index ops).
ProximalGradientResult shrinking_batch(const SmoothPart& f, const Prox& g,
                                       const ProximalGradientOptions& o, const torch::Tensor& z0) {
  const double eta = o.step();
  MomentumSchedule momentum{o.momentum()};
  torch::Tensor z;                // the whole batch, updated as samples advance
  torch::Tensor active;           // (A,) indices of the samples still iterating
  torch::Tensor za, za_prev;      // their current and previous iterates
  torch::Tensor iters;            // (B,) iterations per sample, CPU
  SmoothPart fa = f;              // f restricted to the active samples
  double c = 0.0;                 // momentum coefficient of the next step
  int64_t k = 0;
  for (; k < o.iterations() && (k == 0 || active.numel() > 0); ++k) {
    torch::Tensor znew;
    if (k == 0) {
      znew = g(first_forward_step(f, z0, eta), eta);  // z₁, the whole batch
      z = z0.defined() ? z0 : torch::zeros_like(znew);
      active = torch::arange(z.size(0), torch::TensorOptions().dtype(torch::kLong).device(z.device()));
      iters = torch::zeros({z.size(0)}, torch::kLong);
      za = z;
      za_prev = z;
    } else {
      auto y = c == 0.0 ? za : za + c * (za - za_prev);  // (A, ...)
      znew = g(fa.step_from(y, eta), eta);
    }
    c = momentum.next();
    // Relative change per active sample; 0/0 (a code that stays 0) is converged.
    auto change = sample_norm(znew - za);  // (A,)
    auto base = sample_norm(za);           // (A,)
    auto rel = torch::where(base > 0, change / base.clamp_min(1e-300),
                            torch::where(change > 0, torch::full_like(change, INFINITY),
                                         torch::zeros_like(change)));
    za_prev = za;
    za = znew;
    z = z.index_copy(0, active, za);
    iters.index_fill_(0, active.to(torch::kCPU), k + 1);
    auto done = (rel < o.tolerance()).to(torch::kCPU);  // (A,) bool
    if (done.any().item<bool>()) {
      auto keep = (~done).nonzero().squeeze(1).to(z.device());  // positions within active
      active = active.index_select(0, keep);
      za = za.index_select(0, keep);
      za_prev = za_prev.index_select(0, keep);
      if (active.numel() > 0) fa = f.restrict(active);
    }
  }
  ProximalGradientResult r;
  r.z = z;
  r.iterations = k;
  r.sample_iterations = iters;
  return r;
}

}  // namespace

ProximalGradientResult proximal_gradient(const SmoothPart& f, const Prox& g,
                                         const ProximalGradientOptions& o,
                                         const torch::Tensor& z0) {
  TORCH_CHECK(o.step() > 0.0 && std::isfinite(o.step()),
              "proximal_gradient: step must be positive and finite, got ", o.step());
  TORCH_CHECK(o.iterations() >= 1, "proximal_gradient: iterations must be >= 1, got ",
              o.iterations());
  TORCH_CHECK(o.tolerance() >= 0, "proximal_gradient: tolerance must be >= 0");
  TORCH_CHECK(static_cast<bool>(f.grad) || static_cast<bool>(f.forward_step) ||
                  static_cast<bool>(f.forward_step_into),
              "proximal_gradient: the smooth part has no gradient");
  if (o.tolerance() > 0 && f.restrict && o.stop_rule() == StopRule::kFreeze)
    return shrinking_batch(f, g, o, z0);
  if (o.tolerance() == 0 && !torch::GradMode::is_enabled()) return fused_batch(f, g, o, z0);
  return full_batch(f, g, o, z0);
}

}  // namespace sparseloop
