#include "sparseloop/sparse/proximal_gradient.h"

#include <cmath>

#include <type_traits>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "sparseloop/util/bf16_bits.h"
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
// exceptions, so these kernels are compiled without it. Nor with
// multiply-adds contracted: GCC contracted `η·b − τ` in some instances and
// not in others, so the bf16-direction variant rounded a last bit
// differently from the float32 one fed the same values (and a last bit of y
// can flip its bf16 copy); uncontracted, every instance rounds each
// operation as written (tests Fista.Bf16DirectionEqualsTheConversionPath).
// These loops are bound by memory, not by their arithmetic.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math", "fp-contract=off")
#define SPARSELOOP_IVDEP _Pragma("GCC ivdep")
#else
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#define SPARSELOOP_IVDEP
#endif
/// Where a step's v = y − η∇f(y) comes from: the problem's own forward step
/// (v = a), the iterate plus η times the descent direction −∇f(y) computed
/// here (v = a + η·b: the addition is folded into this pass instead of a
/// pass of its own), or η·b from z₀ = 0 (the LASSO's ηDᵀx).
enum class Input { kV, kYPlusStepD, kStepD };
/// What the step writes besides z_new: nothing (no extrapolation follows: the
/// last step, or a zero momentum coefficient), y = (1 + c)z_new (z_prev = 0),
/// or y = z_new + c(z_new − z_prev).
enum class Extrap { kNone, kFromZero, kFromPrev };

/// Which output the step also writes in bfloat16 for the next product
/// (--precision bf16: the operator's products take bf16 operands, so the
/// next iterate's conversion is folded into this pass): none, z_new (no
/// extrapolation: the next point is z_new) or y_next.
enum class Low { kNone, kZ, kY };

template <class T, class TB = T>
struct StepArgs {
  const T* a;       // v's first operand (kV, kYPlusStepD)
  const TB* b;      // the descent direction (kYPlusStepD, kStepD): T, or bf16 bits
  const T* z_prev;  // kFromPrev
  T* zn;            // z_new
  T* yn;            // the next extrapolated point (kFromZero, kFromPrev)
  Bf16Bits* low;    // the next point in bf16 (Low::kZ, Low::kY)
  T eta, tau, shrink, c;
};

/// An element of the descent direction as T (bf16 bits widened exactly).
template <class T, class TB>
SPARSELOOP_ALWAYS_INLINE T direction_at(const TB* b, int64_t i) {
  if constexpr (std::is_same_v<TB, Bf16Bits>) {
    return from_bf16(b[i]);
  } else {
    return b[i];
  }
}

template <class T, class TB, Support S, Input I, Extrap E, Low L>
SPARSELOOP_ALWAYS_INLINE void fused_forward_range(const StepArgs<T, TB>& p, int64_t begin,
                                                  int64_t end) {
  const T* ap = p.a;
  const TB* bp = p.b;
  const T* zp = p.z_prev;
  T* __restrict__ znp = p.zn;
  T* __restrict__ ynp = p.yn;
  Bf16Bits* __restrict__ lowp = p.low;
  const T eta = p.eta, tau = p.tau, shrink = p.shrink, c = p.c;
  SPARSELOOP_IVDEP
  for (int64_t i = begin; i < end; ++i) {
    T vi;
    if constexpr (I == Input::kV) {
      vi = ap[i];
    } else if constexpr (I == Input::kYPlusStepD) {
      vi = ap[i] + eta * direction_at<T>(bp, i);
    } else {
      vi = eta * direction_at<T>(bp, i);
    }
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
    T yn = zn;
    if constexpr (E == Extrap::kFromPrev) {
      yn = zn + c * (zn - zp[i]);
      ynp[i] = yn;
    } else if constexpr (E == Extrap::kFromZero) {
      yn = zn + c * zn;  // z_prev = 0
      ynp[i] = yn;
    }
    if constexpr (L == Low::kZ) lowp[i] = to_bf16(zn);
    if constexpr (L == Low::kY) lowp[i] = to_bf16(yn);
  }
}

template <class T, class TB = T>
struct StepGradArgs {
  const T* gz;          // ∂L/∂z_new
  const T* gy;          // ∂L/∂y_next (kFromZero, kFromPrev)
  const Bf16Bits* glow; // ∂L/∂(the bf16 copy) (Low::kZ, Low::kY)
  const T* zn;          // z_new: its support is the prox's
  T* ga;                // ∂L/∂a (kV, kYPlusStepD)
  TB* gb;               // ∂L/∂b (kYPlusStepD, kStepD), in b's type
  T* gzp;               // ∂L/∂z_prev (kFromPrev)
  T eta, shrink, c;
};

template <class T, class TB, Support S, Input I, Extrap E, Low L>
SPARSELOOP_ALWAYS_INLINE void fused_backward_range(const StepGradArgs<T, TB>& p, int64_t begin,
                                                   int64_t end) {
  const T* __restrict__ gz = p.gz;
  const T* __restrict__ gy = p.gy;
  const Bf16Bits* __restrict__ glow = p.glow;
  const T* __restrict__ znp = p.zn;
  T* __restrict__ ga = p.ga;
  TB* __restrict__ gb = p.gb;
  T* __restrict__ gzp = p.gzp;
  const T eta = p.eta, shrink = p.shrink, c = p.c;
  SPARSELOOP_IVDEP
  for (int64_t i = begin; i < end; ++i) {
    // The bf16 copy's gradient joins the output it mirrors (autograd's sum
    // of the two uses, done here instead of an accumulation pass).
    T g = gz[i];
    if constexpr (L == Low::kZ) g += from_bf16(glow[i]);
    T gyi = T(0);
    if constexpr (E != Extrap::kNone) gyi = gy[i];
    if constexpr (L == Low::kY) gyi += from_bf16(glow[i]);
    if constexpr (E != Extrap::kNone) g += (T(1) + c) * gyi;
    // The prox's support read from z_new (shrink > 0 keeps its sign): relu's
    // backward is v − τ > 0 ⟺ z_new > 0; softshrink's is "not −τ ≤ v ≤ τ" ⟺
    // z_new ≠ 0, NaN included (NaN ≠ 0, and NaN > 0 is false as for v − τ).
    bool on;
    if constexpr (S == Support::kNonnegative) {
      on = znp[i] > T(0);
    } else if constexpr (S == Support::kSoft) {
      on = znp[i] != T(0);
    } else {
      on = true;
    }
    const T gv = on ? shrink * g : T(0);  // a select, not a branch: the loop vectorizes
    if constexpr (I != Input::kStepD) ga[i] = gv;
    if constexpr (I != Input::kV) {
      if constexpr (std::is_same_v<TB, Bf16Bits>) {
        gb[i] = to_bf16(eta * gv);
      } else {
        gb[i] = eta * gv;
      }
    }
    if constexpr (E == Extrap::kFromPrev) gzp[i] = -c * gyi;
  }
}

// Run-time variant → template instance, every level inlined into the clone
// that calls it (a call out of a target_clones function would lose its ISA).
// One chain for both passes: K names the loop (ForwardLoop, BackwardLoop).
struct ForwardLoop {
  template <class T, class TB, Support S, Input I, Extrap E, Low L>
  SPARSELOOP_ALWAYS_INLINE static void run(const StepArgs<T, TB>& p, int64_t b, int64_t e) {
    fused_forward_range<T, TB, S, I, E, L>(p, b, e);
  }
};
struct BackwardLoop {
  template <class T, class TB, Support S, Input I, Extrap E, Low L>
  SPARSELOOP_ALWAYS_INLINE static void run(const StepGradArgs<T, TB>& p, int64_t b, int64_t e) {
    fused_backward_range<T, TB, S, I, E, L>(p, b, e);
  }
};
template <class K, class T, class TB, Support S, Input I, Extrap E, class P>
SPARSELOOP_ALWAYS_INLINE void dispatch_l(const P& p, int64_t b, int64_t e, Low l) {
  if constexpr (std::is_same_v<TB, Bf16Bits>) {  // a bf16 copy only beside a bf16 direction
    if (l == Low::kZ) return K::template run<T, TB, S, I, E, Low::kZ>(p, b, e);
    if (l == Low::kY && E != Extrap::kNone)
      return K::template run<T, TB, S, I, E, Low::kY>(p, b, e);
  }
  K::template run<T, TB, S, I, E, Low::kNone>(p, b, e);
}
template <class K, class T, class TB, Support S, Input I, class P>
SPARSELOOP_ALWAYS_INLINE void dispatch_e(const P& p, int64_t b, int64_t e, Extrap x, Low l) {
  if (x == Extrap::kNone) dispatch_l<K, T, TB, S, I, Extrap::kNone>(p, b, e, l);
  else if (x == Extrap::kFromZero) dispatch_l<K, T, TB, S, I, Extrap::kFromZero>(p, b, e, l);
  else dispatch_l<K, T, TB, S, I, Extrap::kFromPrev>(p, b, e, l);
}
template <class K, class T, class TB, Support S, class P>
SPARSELOOP_ALWAYS_INLINE void dispatch_i(const P& p, int64_t b, int64_t e, Input i, Extrap x,
                                         Low l) {
  if (i == Input::kV) dispatch_e<K, T, TB, S, Input::kV>(p, b, e, x, l);
  else if (i == Input::kYPlusStepD) dispatch_e<K, T, TB, S, Input::kYPlusStepD>(p, b, e, x, l);
  else dispatch_e<K, T, TB, S, Input::kStepD>(p, b, e, x, l);
}
template <class K, class T, class TB, class P>
SPARSELOOP_ALWAYS_INLINE void dispatch_s(const P& p, int64_t b, int64_t e, Support s, Input i,
                                         Extrap x, Low l) {
  if (s == Support::kNonnegative) dispatch_i<K, T, TB, Support::kNonnegative>(p, b, e, i, x, l);
  else if (s == Support::kSoft) dispatch_i<K, T, TB, Support::kSoft>(p, b, e, i, x, l);
  else dispatch_i<K, T, TB, Support::kAll>(p, b, e, i, x, l);
}

SPARSELOOP_SIMD_CLONES void fused_forward_f32(const StepArgs<float>& p, int64_t b, int64_t e,
                                              Support s, Input i, Extrap x, Low l) {
  dispatch_s<ForwardLoop, float, float>(p, b, e, s, i, x, l);
}
SPARSELOOP_SIMD_CLONES void fused_forward_f64(const StepArgs<double>& p, int64_t b, int64_t e,
                                              Support s, Input i, Extrap x, Low l) {
  dispatch_s<ForwardLoop, double, double>(p, b, e, s, i, x, l);
}
SPARSELOOP_SIMD_CLONES void fused_forward_bf16(const StepArgs<float, Bf16Bits>& p, int64_t b,
                                               int64_t e, Support s, Input i, Extrap x, Low l) {
  dispatch_s<ForwardLoop, float, Bf16Bits>(p, b, e, s, i, x, l);
}
SPARSELOOP_SIMD_CLONES void fused_backward_f32(const StepGradArgs<float>& p, int64_t b, int64_t e,
                                               Support s, Input i, Extrap x, Low l) {
  dispatch_s<BackwardLoop, float, float>(p, b, e, s, i, x, l);
}
SPARSELOOP_SIMD_CLONES void fused_backward_f64(const StepGradArgs<double>& p, int64_t b,
                                               int64_t e, Support s, Input i, Extrap x, Low l) {
  dispatch_s<BackwardLoop, double, double>(p, b, e, s, i, x, l);
}
SPARSELOOP_SIMD_CLONES void fused_backward_bf16(const StepGradArgs<float, Bf16Bits>& p, int64_t b,
                                                int64_t e, Support s, Input i, Extrap x, Low l) {
  dispatch_s<BackwardLoop, float, Bf16Bits>(p, b, e, s, i, x, l);
}
#undef SPARSELOOP_IVDEP
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__clang__)
#pragma clang fp contract(on)
#endif

// Overloads on the element types for the generic lambdas of FusedFistaStep
// (not templates, so that each picks its compiled clone).
void fused_forward(const StepArgs<float>& p, int64_t b, int64_t e, Support s, Input i, Extrap x,
                   Low l) {
  fused_forward_f32(p, b, e, s, i, x, l);
}
void fused_forward(const StepArgs<double>& p, int64_t b, int64_t e, Support s, Input i, Extrap x,
                   Low l) {
  fused_forward_f64(p, b, e, s, i, x, l);
}
void fused_forward(const StepArgs<float, Bf16Bits>& p, int64_t b, int64_t e, Support s, Input i,
                   Extrap x, Low l) {
  fused_forward_bf16(p, b, e, s, i, x, l);
}
void fused_backward(const StepGradArgs<float>& p, int64_t b, int64_t e, Support s, Input i,
                    Extrap x, Low l) {
  fused_backward_f32(p, b, e, s, i, x, l);
}
void fused_backward(const StepGradArgs<double>& p, int64_t b, int64_t e, Support s, Input i,
                    Extrap x, Low l) {
  fused_backward_f64(p, b, e, s, i, x, l);
}
void fused_backward(const StepGradArgs<float, Bf16Bits>& p, int64_t b, int64_t e, Support s,
                    Input i, Extrap x, Low l) {
  fused_backward_bf16(p, b, e, s, i, x, l);
}

Support support_of(bool nonneg, double tau) {
  return nonneg ? Support::kNonnegative : (tau > 0.0 ? Support::kSoft : Support::kAll);
}

/// Whether `t` shares `ref`'s dense layout: both row-major, or both dense with
/// equal strides (channels-last codes: sparse/csc_conv2d.cpp). The fused loops
/// are elementwise over raw buffers, so any dense layout serves when every
/// operand has the same one.
bool same_dense_layout(const torch::Tensor& t, const torch::Tensor& ref) {
  if (t.is_contiguous() && ref.is_contiguous()) return true;
  return t.is_non_overlapping_and_dense() && ref.is_non_overlapping_and_dense() &&
         t.strides().equals(ref.strides());
}

/// `t` in `ref`'s dense layout (itself when it already is).
torch::Tensor in_layout_of(const torch::Tensor& t, const torch::Tensor& ref) {
  if (t.sizes().equals(ref.sizes()) && same_dense_layout(t, ref)) return t;
  return torch::empty_like(ref, t.options()).copy_(t);
}

/// `t` dense, in its own suggested layout (row-major or channels-last).
torch::Tensor dense(const torch::Tensor& t) {
  return t.is_non_overlapping_and_dense() ? t : t.contiguous(t.suggest_memory_format());
}

/// Whether the fused step can run on these tensors (undefined ones absent):
/// CPU, one dense layout (same_dense_layout) and shape, the codes float32 or
/// float64, all of one dtype but for a bfloat16 direction beside float32
/// codes (FusedFistaStep; other devices take the tensor ops).
bool fusable(std::initializer_list<torch::Tensor> tensors) {
  const torch::Tensor* first = nullptr;
  bool has_bf16 = false;
  c10::optional<c10::ScalarType> codes;
  for (const auto& t : tensors) {
    if (!t.defined()) continue;
    const auto st = t.scalar_type();
    if (!t.device().is_cpu()) return false;
    if (st == torch::kBFloat16) {
      has_bf16 = true;
    } else if (st == torch::kFloat || st == torch::kDouble) {
      if (codes && *codes != st) return false;
      codes = st;
    } else {
      return false;
    }
    if (first == nullptr) {
      first = &t;
    } else if (!same_dense_layout(t, *first) || !t.sizes().equals(first->sizes())) {
      return false;
    }
  }
  if (has_bf16 && codes && *codes != torch::kFloat) return false;
  return first != nullptr;
}

/// An absent operand of FusedFistaStep: autograd functions take no undefined inputs.
torch::Tensor absent(const torch::Tensor& like) { return torch::empty({0}, like.options()); }

/// A kernel's pointer to `t`'s elements (U: the element type, or bf16 bits),
/// null for an operand the variant does not read or write.
template <class U>
U* buffer(const torch::Tensor& t, bool present) {
  if (!present) return nullptr;
  if constexpr (std::is_same_v<U, Bf16Bits>) {
    return bf16_bits(t);
  } else {
    return t.data_ptr<U>();
  }
}

/// One pass per FISTA step under autograd:
///   v = a, a + η·b or η·b (Input above),
///   z_new = prox_{ηg}(v),   y_next = z_new + c·(z_new − z_prev) (when asked),
/// where tensor ops took five to seven passes over the codes forward (the
/// addition y + ηDᵀr, the prox's one or two, the difference, the
/// extrapolation) and as many backward (issue 12: "one fused pass per FISTA
/// step over the codes"). The backward is the same chain rule in one pass:
///   ḡ = g_z + (1 + c)·g_y,  g_v = ∂prox ⊙ ḡ,  g_a = g_v,  g_b = η·g_v,
///   g_{z_prev} = −c·g_y,
/// with ∂prox = shrink on the support (z_new ≠ 0; z_new > 0 when non-negative)
/// and 0 off it: the subgradient convention of torch's softshrink and relu
/// backward, NaN included. Saves z_new alone (its support), which the next
/// step holds anyway; v is never materialized.
///
/// Under --precision bf16 (SmoothPart::descent_bf16) b may be bfloat16, the
/// operator's product as it came out, read widened in this pass; g_b is then
/// written in bf16, rounded as autograd's conversion would round it. With
/// `low` the step also writes the next point (y_next, or z_new when it does
/// not extrapolate) rounded to bf16, the next product's operand, as a last
/// output; its gradient joins the output it mirrors in the backward pass.
/// Both fold a conversion pass and its backward (and autograd's sum of the
/// two uses of the next point) into this pass, with the values of the
/// conversions they replace (tests/sparse/proximal_gradient_test.cpp).
struct FusedFistaStep : public torch::autograd::Function<FusedFistaStep> {
  /// a, b, z_prev: empty when absent (z_prev empty: z₀ = 0).
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& a, const torch::Tensor& b,
                                                const torch::Tensor& z_prev, double eta,
                                                double tau, double shrink, bool nonneg, double c,
                                                bool extrapolate, bool low) {
    const bool has_a = a.numel() > 0, has_b = b.numel() > 0;
    TORCH_INTERNAL_ASSERT(has_a || has_b);
    const Input input = has_a && has_b ? Input::kYPlusStepD : (has_a ? Input::kV : Input::kStepD);
    const Extrap extrap =
        !extrapolate ? Extrap::kNone : (z_prev.numel() > 0 ? Extrap::kFromPrev : Extrap::kFromZero);
    const bool b_low = has_b && b.scalar_type() == torch::kBFloat16;
    TORCH_INTERNAL_ASSERT(!(b_low || low) || !has_a || a.scalar_type() == torch::kFloat);
    // The codes' dtype: a's, or float32 for a bf16 direction alone.
    const auto& like = has_a ? a : b;
    const auto opts = like.options().dtype(has_a || !b_low ? like.scalar_type() : torch::kFloat);
    auto zn = torch::empty_like(like, opts);
    auto yn = extrapolate ? torch::empty_like(like, opts) : torch::Tensor();
    auto zl = low ? torch::empty_like(like, opts.dtype(torch::kBFloat16)) : torch::Tensor();
    const Support s = support_of(nonneg, tau);
    const Low l = !low ? Low::kNone : (extrapolate ? Low::kY : Low::kZ);
    // T: the codes' type; TB: the direction's (T, or bf16 bits).
    const auto run = [&](auto* codes, auto* direction) {
      using T = std::remove_pointer_t<decltype(codes)>;
      using TB = std::remove_pointer_t<decltype(direction)>;
      StepArgs<T, TB> p{};
      p.a = buffer<T>(a, has_a);
      p.b = buffer<TB>(b, has_b);
      p.z_prev = buffer<T>(z_prev, extrap == Extrap::kFromPrev);
      p.zn = buffer<T>(zn, true);
      p.yn = buffer<T>(yn, extrapolate);
      p.low = buffer<Bf16Bits>(zl, low);
      p.eta = static_cast<T>(eta);
      p.tau = static_cast<T>(tau);
      p.shrink = static_cast<T>(shrink);
      p.c = static_cast<T>(c);
      at::parallel_for(0, zn.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
        fused_forward(p, begin, end, s, input, extrap, l);
      });
    };
    if (b_low || low) {
      TORCH_INTERNAL_ASSERT(!has_b || b_low);  // a float32 b with a bf16 output: not asked
      run(static_cast<float*>(nullptr), static_cast<Bf16Bits*>(nullptr));
    } else {
      AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "fused_fista_step", [&] {
        run(static_cast<scalar_t*>(nullptr), static_cast<scalar_t*>(nullptr));
      });
    }
    ctx->save_for_backward({zn});  // the support, as softshrink's and relu's backward read it
    ctx->saved_data["eta"] = eta;
    ctx->saved_data["tau"] = tau;
    ctx->saved_data["shrink"] = shrink;
    ctx->saved_data["nonneg"] = nonneg;
    ctx->saved_data["c"] = c;
    ctx->saved_data["input"] = static_cast<int64_t>(input);
    ctx->saved_data["extrap"] = static_cast<int64_t>(extrap);
    ctx->saved_data["b_low"] = b_low;
    ctx->saved_data["low"] = static_cast<int64_t>(l);
    torch::autograd::variable_list out{zn};
    if (extrapolate) out.push_back(yn);
    if (low) out.push_back(zl);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto zn = ctx->get_saved_variables()[0];
    const double eta = ctx->saved_data["eta"].toDouble();
    const double tau = ctx->saved_data["tau"].toDouble();
    const double shrink = ctx->saved_data["shrink"].toDouble();
    const bool nonneg = ctx->saved_data["nonneg"].toBool();
    const double c = ctx->saved_data["c"].toDouble();
    const auto input = static_cast<Input>(ctx->saved_data["input"].toInt());
    const auto extrap = static_cast<Extrap>(ctx->saved_data["extrap"].toInt());
    const bool b_low = ctx->saved_data["b_low"].toBool();
    const auto l = static_cast<Low>(ctx->saved_data["low"].toInt());
    // Missing output gradients are zeros (the last step's y, an unused z).
    // In zn's layout: the loops below index every buffer alike.
    auto gz = grads[0].defined() ? in_layout_of(grads[0], zn) : torch::zeros_like(zn);
    torch::Tensor gy, gl;
    if (extrap != Extrap::kNone)
      gy = grads[1].defined() ? in_layout_of(grads[1], zn) : torch::zeros_like(zn);
    if (l != Low::kNone) {
      const auto& g = grads.back();
      const auto bf = zn.options().dtype(torch::kBFloat16);
      gl = g.defined() ? in_layout_of(g.to(torch::kBFloat16), zn) : torch::zeros_like(zn, bf);
    }
    // Written always (branch-free loops); returned when needed.
    auto ga = input != Input::kStepD ? torch::empty_like(zn) : torch::Tensor();
    auto gb = input != Input::kV
                  ? torch::empty_like(zn, b_low ? zn.options().dtype(torch::kBFloat16) : zn.options())
                  : torch::Tensor();
    auto gzp = extrap == Extrap::kFromPrev ? torch::empty_like(zn) : torch::Tensor();
    const Support s = support_of(nonneg, tau);
    const auto run = [&](auto* codes, auto* direction) {
      using T = std::remove_pointer_t<decltype(codes)>;
      using TB = std::remove_pointer_t<decltype(direction)>;
      StepGradArgs<T, TB> p{};
      p.gz = buffer<T>(gz, true);
      p.gy = buffer<T>(gy, gy.defined());
      p.glow = buffer<Bf16Bits>(gl, gl.defined());
      p.zn = buffer<T>(zn, true);
      p.ga = buffer<T>(ga, ga.defined());
      p.gb = buffer<TB>(gb, gb.defined());
      p.gzp = buffer<T>(gzp, gzp.defined());
      p.eta = static_cast<T>(eta);
      p.shrink = static_cast<T>(shrink);
      p.c = static_cast<T>(c);
      at::parallel_for(0, zn.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
        fused_backward(p, begin, end, s, input, extrap, l);
      });
    };
    if (b_low || l != Low::kNone) {
      run(static_cast<float*>(nullptr), static_cast<Bf16Bits*>(nullptr));
    } else {
      AT_DISPATCH_FLOATING_TYPES(zn.scalar_type(), "fused_fista_step_backward", [&] {
        run(static_cast<scalar_t*>(nullptr), static_cast<scalar_t*>(nullptr));
      });
    }
    if (!ctx->needs_input_grad(2)) gzp = torch::Tensor();  // an empty z₀
    return {ga,
            gb,
            gzp,
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

/// Iterations between two checks of a distributed global batch's stop.
constexpr int64_t kGlobalStopEvery = 4;
/// Iterations between two host reads of the freeze rule's stop test when the
/// codes live on a device (stop_check_every 0): each read waits for the
/// device's queue to drain, which at `code`'s sizes costs more than an
/// iteration's arithmetic; at most 7 trailing no-op iterations are the price.
constexpr int64_t kDeviceStopEvery = 8;

/// Iterations between two host reads of the stop test (kFreeze; the
/// authors' rule can unfreeze a sample, so it reads every iteration).
int64_t stop_period(const ProximalGradientOptions& o, const SmoothPart& f,
                    const torch::Tensor& z0) {
  if (o.stop_rule() == StopRule::kAuthors) return 1;
  const auto device = z0.defined() ? z0.device() : f.device;
  int64_t every = o.stop_check_every() > 0 ? o.stop_check_every()
                                           : (device.is_cpu() ? 1 : kDeviceStopEvery);
  if (f.global_batch && distributed()) every = std::max(every, kGlobalStopEvery);
  return every;
}

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
  // Frozen codes do not move (v = z below, so z_{k+1} − z_k = 0 and y = z),
  // so reading the stop test only every `period` iterations changes nothing
  // but the no-op iterations after the last sample froze: the same codes and
  // per-sample counts, bit for bit. Between reads every step masks, since the
  // host does not know whether a sample froze.
  const int64_t period = check_stop ? stop_period(o, f, z0) : 1;
  const bool global = f.global_batch && distributed();
  // Under autograd without a stop test: one fused node per step (above) when
  // the problem gives its descent direction, so that y + η·(−∇f) is folded
  // into the step (every step, 2-step layers included); otherwise where an
  // extrapolation is built (FISTA beyond its first step). Plain tensor ops
  // elsewhere (a prox alone is already one kernel).
  const bool descent = static_cast<bool>(f.descent);
  const bool fuse = !inplace && !check_stop &&
                    (descent || (o.momentum() == Momentum::kFista && o.iterations() > 2));
  // --precision bf16: the direction comes in bf16 and the step writes the
  // next point's bf16 copy, the operand of the next product (descent_bf16).
  const bool low = fuse && descent && f.descent_bf16 && f.descent_from_zero_bf16;
  torch::Tensor y_low;  // y rounded to bf16, when the last fused step wrote it
  int64_t k = 0;
  for (; k < o.iterations(); ++k) {
    torch::Tensor v;
    if (fuse) {
      // v = a, a + η·b or η·b: the descent direction b is added inside the step.
      torch::Tensor a, b;
      if (descent && k == 0 && !z0.defined() && f.descent_from_zero) {
        b = low ? f.descent_from_zero_bf16() : f.descent_from_zero();  // ηDᵀx's Dᵀx
      } else if (descent && (k > 0 || z0.defined())) {
        a = y;
        if (low) {
          if (!y_low.defined()) y_low = y.to(torch::kBFloat16);
          b = f.descent_bf16(y_low);
        } else {
          b = f.descent(y);
        }
      } else {
        a = k == 0 ? first_forward_step(f, z0, eta) : f.step_from(y, eta);
      }
      y_low = torch::Tensor();
      MomentumSchedule after = momentum;  // committed only if the fused step runs
      const double c = after.next();
      const bool extrapolate = !(c == 0.0 || k + 1 == o.iterations());
      const bool write_low = low && k + 1 < o.iterations();
      const torch::Tensor z_prev = extrapolate ? z : torch::Tensor();  // undefined: z₀ = 0
      if (fusable({a, b, z_prev})) {
        momentum = after;
        const auto& like = a.defined() ? a : b;
        const auto& p = g.options();
        auto out = FusedFistaStep::apply(
            a.defined() ? a : absent(like), b.defined() ? b : absent(like),
            z_prev.defined() ? z_prev : absent(like), eta, eta * p.lambda(),
            1.0 / (1.0 + eta * p.mu()), p.nonnegative(), c, extrapolate, write_low);
        z = out[0];
        y = extrapolate ? out[1] : z;
        if (write_low) y_low = out.back();
        continue;
      }
      if (b.defined() && b.scalar_type() == torch::kBFloat16)
        b = b.to(a.defined() ? a.scalar_type() : torch::kFloat);
      v = a.defined() && b.defined() ? torch::add(a, b, eta) : (a.defined() ? a : b * eta);
    } else {
      v = k == 0 ? first_forward_step(f, z0, eta) : f.step_from(y, eta);
    }
    // v = prox(y − η∇f(y)); flagged samples (authors) take prox(y) with no
    // gradient and no threshold.
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
    if (!authors && (any_stopped || (period > 1 && k > 0)))
      v = torch::where(stopped_b, z, v);  // frozen codes stay
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
    // The stop test, read on the host every `period` iterations (above).
    // Every rank iterates until the global batch has stopped; asking the
    // other ranks only every `period` iterations (at least kGlobalStopEvery)
    // saves most of the collectives, whose latency bounds a small problem's
    // speed.
    if (check_stop && ((k + 1) % period == 0 || k + 1 == o.iterations())) {
      int64_t n_stopped = stopped.sum().item<int64_t>();
      int64_t n_samples = z.size(0);
      any_stopped = n_stopped > 0;
      if (global) {
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
  r.sample_iterations = check_stop ? sample_steps.cpu()
                                   : torch::full({z.size(0)}, k, torch::kLong);
  // Without the trailing no-op iterations of a deferred read: the iteration
  // in which the last sample froze, as a read every iteration would stop at.
  // (A global batch keeps the global count: its samples are on other ranks.)
  r.iterations = period > 1 && !authors && !global ? r.sample_iterations.max().item<int64_t>() : k;
  return r;
}

/// The end of one iteration, in one pass over contiguous CPU buffers:
///   v = given, or base + η·d (the descent direction −∇f added here, not in a
///   pass of its own; base is the extrapolated point, or z₀ at the first step),
///   z_new = prox_{ηg}(v),  y = z_new + c(z_new − z),  z = z_new
/// (the prox of prox.h written per element: soft or non-negative threshold,
/// then the elastic-net scaling). Four tensor passes and an allocation
/// otherwise; at VDL's size (250×128 codes) their dispatch, not their
/// arithmetic, was most of a step (docs/performance.md, VDL inference).
/// In place: base may be y or z (read before they are written, element by
/// element), so no pointer is restrict.
template <class T>
struct FinishArgs {
  const T* v;     // the step's v, when given
  const T* base;  // with d: v = base + η·d
  const T* d;
  T* z;
  T* y;
  T eta, tau, shrink, cm;
  bool scale, nonneg;
};
template <class T, bool HasD>
SPARSELOOP_ALWAYS_INLINE void finish_range(const FinishArgs<T>& p, int64_t begin, int64_t end) {
  const T* vp = p.v;
  const T* bp = p.base;
  const T* dp = p.d;
  T* zp = p.z;
  T* yp = p.y;
  const T eta = p.eta, tau = p.tau, shrink = p.shrink, cm = p.cm;
  const bool scale = p.scale, nonneg = p.nonneg;
  for (int64_t i = begin; i < end; ++i) {
    T vi;
    if constexpr (HasD) {
      vi = bp[i] + eta * dp[i];
    } else {
      vi = vp[i];
    }
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
SPARSELOOP_SIMD_CLONES void finish_range_f32(const FinishArgs<float>& p, int64_t begin,
                                             int64_t end) {
  if (p.d != nullptr) finish_range<float, true>(p, begin, end);
  else finish_range<float, false>(p, begin, end);
}
SPARSELOOP_SIMD_CLONES void finish_range_f64(const FinishArgs<double>& p, int64_t begin,
                                             int64_t end) {
  if (p.d != nullptr) finish_range<double, true>(p, begin, end);
  else finish_range<double, false>(p, begin, end);
}

/// finish_range over the buffers (CPU, contiguous, float32 or float64): from
/// v, or from base + η·d when d is defined.
template <class T>
void finish_step_cpu(const torch::Tensor& v, const torch::Tensor& base, const torch::Tensor& d,
                     torch::Tensor& z, torch::Tensor& y, const ProxOptions& p, double eta,
                     double c) {
  FinishArgs<T> a{};
  a.v = d.defined() ? nullptr : v.data_ptr<T>();
  a.base = d.defined() ? base.data_ptr<T>() : nullptr;
  a.d = d.defined() ? d.data_ptr<T>() : nullptr;
  a.z = z.data_ptr<T>();
  a.y = y.data_ptr<T>();
  a.eta = static_cast<T>(eta);
  a.tau = static_cast<T>(eta * p.lambda());
  a.shrink = static_cast<T>(1.0 / (1.0 + eta * p.mu()));
  a.cm = static_cast<T>(c);
  a.scale = p.mu() > 0.0;
  a.nonneg = p.nonnegative();
  at::parallel_for(0, z.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
    if constexpr (std::is_same_v<T, float>) {
      finish_range_f32(a, begin, end);
    } else {
      finish_range_f64(a, begin, end);
    }
  });
}

/// The end of one iteration into the buffers: from v, or from base + η·d
/// when d is defined; tensor ops where the CPU loop cannot run (CUDA, other
/// dtypes, strided tensors).
void finish_step(torch::Tensor& v, const torch::Tensor& base, const torch::Tensor& d,
                 torch::Tensor& z, torch::Tensor& y, torch::Tensor& diff, const Prox& g,
                 double eta, double c) {
  const auto& src = d.defined() ? d : v;
  // The loops ask what the fused autograd step asks: CPU, float32 or float64,
  // one dtype, shape and dense layout for every buffer they read or write.
  const bool cpu = fusable({src, z, y, d.defined() ? base : torch::Tensor()});
  if (cpu && src.scalar_type() == torch::kFloat) {
    finish_step_cpu<float>(v, base, d, z, y, g.options(), eta, c);
  } else if (cpu) {  // float64
    finish_step_cpu<double>(v, base, d, z, y, g.options(), eta, c);
  } else {
    if (d.defined()) v = torch::add(base, d, eta);
    g.apply_(v, eta);
    if (!diff.defined()) diff = torch::empty_like(v);
    at::sub_out(diff, v, z);
    z.copy_(v);
    at::add_out(y, z, diff, c);
  }
}

/// Fixed iterations without autograd (tolerance 0): the problem writes its
/// forward step into `v` when it can (forward_step_into), or gives its
/// descent direction, which the finish adds in its own pass; the rest of the
/// iteration is finish_step: no allocation per iteration beyond the
/// direction, bit for bit the arithmetic of full_batch up to the order of
/// floating-point operations.
ProximalGradientResult fused_batch(const SmoothPart& f, const Prox& g,
                                   const ProximalGradientOptions& o, const torch::Tensor& z0) {
  const double eta = o.step();
  MomentumSchedule momentum{o.momentum()};
  // The descent direction when the problem gives it and cannot write its step.
  const bool descent = f.descent && !f.forward_step_into && (z0.defined() || f.descent_from_zero);
  torch::Tensor v, d;
  if (descent) {
    d = dense(z0.defined() ? f.descent(z0) : f.descent_from_zero());
  } else {
    v = dense(first_forward_step(f, z0, eta));
  }
  const auto& like = descent ? d : v;
  // z₀, a buffer of our own in the direction's layout (finish_step's loops).
  torch::Tensor z = z0.defined() ? torch::empty_like(like, z0.options()).copy_(z0.detach())
                                 : torch::zeros_like(like);
  torch::Tensor y = torch::empty_like(z);
  torch::Tensor diff;  // only the tensor-op path uses it
  for (int64_t k = 0; k < o.iterations(); ++k) {
    if (k > 0) {
      if (descent) {
        d = in_layout_of(f.descent(y), z);
      } else if (f.forward_step_into) {
        f.forward_step_into(y, eta, v);
      } else {
        v = in_layout_of(f.step_from(y, eta), z);
      }
    }
    // base: z₀ at the first step, the extrapolated point after.
    finish_step(v, k == 0 ? z : y, d, z, y, diff, g, eta, momentum.next());
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
  TORCH_CHECK(o.stop_check_every() >= 0, "proximal_gradient: stop_check_every must be >= 0, got ",
              o.stop_check_every());
  // Converged samples leave the batch when the stop test is read every
  // iteration (the CPU); on a device, where each read is a synchronization,
  // they are masked and the test read every few iterations instead.
  if (o.tolerance() > 0 && f.restrict && o.stop_rule() == StopRule::kFreeze &&
      stop_period(o, f, z0) == 1)
    return shrinking_batch(f, g, o, z0);
  if (o.tolerance() == 0 && !torch::GradMode::is_enabled()) return fused_batch(f, g, o, z0);
  return full_batch(f, g, o, z0);
}

}  // namespace sparseloop
