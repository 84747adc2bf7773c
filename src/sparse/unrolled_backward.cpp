#include "sparseloop/sparse/unrolled_backward.h"

#include <cmath>
#include <map>
#include <mutex>
#include <vector>

#include "sparseloop/sparse/checkpoint_schedule.h"
#include "sparseloop/sparse/linear_dictionary.h"

namespace sparseloop {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::mutex stats_mutex;
UnrolledBackwardStats stats_of_last;  // guarded by stats_mutex (CUDA backward runs on another thread)

/// D, Dᵀ and ∂_W⟨a, Dᵀb⟩ of a dictionary of either kind, without autograd.
struct Dictionary {
  int64_t kind = 0;  // 0: convolutional, 1: linear
  ConvGeometry g;
  int64_t out_h = 0, out_w = 0;
  torch::Tensor W;

  torch::Tensor synthesis(const torch::Tensor& z) const {
    return kind == 0 ? conv_synthesis(z, W, g, out_h, out_w) : linear_synthesis(z, W);
  }
  torch::Tensor analysis(const torch::Tensor& x) const {
    return kind == 0 ? conv_analysis(x, W, g) : linear_analysis(x, W);
  }
  /// ∂/∂W ⟨a, Dᵀb⟩, a code-shaped, b signal-shaped: W's shape.
  torch::Tensor weight_gradient(const torch::Tensor& a, const torch::Tensor& b) const {
    return kind == 0 ? conv_analysis_weight_gradient(a, b, W, g)
                     : linear_analysis_weight_gradient(a, b);
  }
};

/// One stored state S_j = (z_j, z_{j−1}), each as its values on its active
/// set plus that set packed at one bit per code (dense, without bits, when
/// the prox has no active set; z₀ is never stored: empty).
struct Snapshot {
  torch::Tensor z, z_bits, z_prev, z_prev_bits;
  int64_t bytes() const {
    int64_t b = 0;
    for (const auto* t : {&z, &z_bits, &z_prev, &z_prev_bits})
      if (t->defined()) b += static_cast<int64_t>(t->numel() * t->element_size());
    return b;
  }
};

/// Everything the forward pass and the backward's recomputation share: the
/// same arithmetic in the same order, so recomputed iterates are bit-identical
/// to the forward's.
struct Solve {
  Dictionary D;
  torch::Tensor x, z0;  // z0 undefined: 0
  double eta = 1.0;
  Prox prox;
  bool nonnegative = false;
  bool has_mask = true;  // false: signed with τ = 0, the prox is the identity (everything active)
  double shrink = 1.0;   // s = 1/(1 + ημ), the prox's slope on its active set
  std::vector<double> c;  // c[k] forms y_k; c[0] = 0 (y₀ = z₀)
  int64_t K = 0;
  std::vector<int64_t> code_shape;
  int64_t numel = 0;
  torch::Tensor bit_weights;

  Solve(Dictionary dict, torch::Tensor x_, torch::Tensor z0_, double eta_, int64_t K_,
        bool fista, const ProxOptions& p)
      : D(std::move(dict)), x(std::move(x_)), z0(std::move(z0_)), eta(eta_), prox(p),
        nonnegative(p.nonnegative()), K(K_) {
    has_mask = nonnegative || eta * p.lambda() > 0.0;
    shrink = 1.0 / (1.0 + eta * p.mu());
    // FISTA's t-sequence (Beck & Teboulle 2009, eq. 4.2): t₁ = 1,
    // t_{k+1} = (1 + √(1 + 4t_k²))/2, c_k = (t_k − 1)/t_{k+1}, so c₁ = 0 — the
    // coefficients proximal_gradient.cpp's MomentumSchedule hands out.
    c.assign(static_cast<size_t>(K + 1), 0.0);
    if (fista) {
      double t = 1.0;
      for (int64_t k = 1; k <= K; ++k) {
        const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
        c[static_cast<size_t>(k)] = (t - 1.0) / t_next;
        t = t_next;
      }
    }
    bit_weights = torch::tensor({1, 2, 4, 8, 16, 32, 64, 128},
                                torch::TensorOptions().dtype(torch::kUInt8).device(x.device()));
  }

  void set_code_shape(std::vector<int64_t> shape) {
    code_shape = std::move(shape);
    numel = 1;
    for (auto n : code_shape) numel *= n;
  }

  /// y_k = z_k + c_k(z_k − z_{k−1}).
  torch::Tensor extrapolate(int64_t k, const torch::Tensor& z, const torch::Tensor& z_prev) const {
    const double ck = c[static_cast<size_t>(k)];
    return ck == 0.0 ? z : torch::add(z, z - z_prev, ck);
  }

  /// z_{k+1} = prox(y_k + ηDᵀ(x − D y_k)), the arithmetic of
  /// lasso_smooth_part's forward step (the autograd path's roundings); from
  /// z₀ = 0 the first step is ηDᵀx. `residual`, when given, receives
  /// r_k = x − D y_k (x itself from z₀ = 0).
  torch::Tensor step(int64_t k, const torch::Tensor& y, torch::Tensor* residual = nullptr) const {
    if (k == 0 && !z0.defined()) {
      torch::Tensor v = eta * D.analysis(x);
      prox.apply_(v, eta);
      if (residual) *residual = x;
      return v;
    }
    // In place, one code and one signal tensor live: the same roundings as
    // y + η·Dᵀ(x − Dy) (x − Dy = (−Dy) + x, and addition commutes).
    torch::Tensor r = D.synthesis(y);
    r.neg_().add_(x);                    // x − Dy (signal shape)
    torch::Tensor v = D.analysis(r);     // code shape
    if (residual) *residual = std::move(r);
    r.reset();
    v.mul_(eta).add_(y);                 // y + η·Dᵀr
    prox.apply_(v, eta);
    return v;
  }

  torch::Tensor active(const torch::Tensor& z) const {
    return nonnegative ? z.gt(0) : z.ne(0);  // relu's and softshrink's backward masks
  }

  /// A bool mask packed at one bit per element: (⌈numel/8⌉,) uint8.
  torch::Tensor pack(const torch::Tensor& mask) const {
    auto bits = mask.reshape({-1});  // (numel,) bool
    if (numel % 8) bits = torch::cat({bits, torch::zeros({8 - numel % 8}, bits.options())});
    return bits.view({-1, 8}).to(torch::kUInt8).mul_(bit_weights).sum(at::IntArrayRef{1}, false,
                                                                       torch::kUInt8);
  }
  /// The inverse: a bool tensor of the codes' shape.
  torch::Tensor unpack(const torch::Tensor& packed) const {
    auto bits = packed.unsqueeze(1).bitwise_and(bit_weights).ne(0);  // (⌈n/8⌉, 8)
    return bits.view({-1}).narrow(0, 0, numel).view(code_shape);
  }

  /// z₀ as a tensor (zeros when not given), for a code-shaped `like`.
  torch::Tensor start(const torch::Tensor& like) const {
    return z0.defined() ? z0 : torch::zeros_like(like);
  }

  /// z_j compact: its values on its active set and the set's bits (dense
  /// without masks; z₀ is never stored).
  std::pair<torch::Tensor, torch::Tensor> compact(int64_t j, const torch::Tensor& z) const {
    if (j == 0) return {torch::empty({0}, z.options()), torch::Tensor()};  // S_j's z₀ is start()
    if (!has_mask) return {z.clone(), torch::Tensor()};
    auto m = active(z);
    return {z.masked_select(m), pack(m)};
  }
  torch::Tensor expand(int64_t j, const torch::Tensor& values, const torch::Tensor& bits,
                       const torch::Tensor& like) const {
    if (j == 0) return start(like);
    if (!has_mask) return values;
    return torch::zeros(code_shape, values.options()).masked_scatter_(unpack(bits), values);
  }
  Snapshot snapshot(int64_t j, const torch::Tensor& z, const torch::Tensor& z_prev) const {
    auto [zv, zb] = compact(j, z);
    auto [pv, pb] = compact(j - 1, z_prev);
    return {zv, zb, pv, pb};
  }
};

Dictionary make_dictionary(const torch::Tensor& W, int64_t kind, int64_t stride, int64_t padding,
                           int64_t out_h, int64_t out_w) {
  Dictionary d;
  d.kind = kind;
  d.g = ConvGeometry{stride, padding};
  d.out_h = out_h;
  d.out_w = out_w;
  d.W = W;
  return d;
}

struct UnrolledLassoFunction : public torch::autograd::Function<UnrolledLassoFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& dict, const torch::Tensor& z0, bool has_z0,
                               int64_t kind,
                               int64_t stride, int64_t padding, int64_t out_h, int64_t out_w,
                               double eta, int64_t K, bool fista, double lambda, double mu,
                               bool nonnegative, int64_t slots) {
    const auto p = ProxOptions().lambda(lambda).mu(mu).nonnegative(nonnegative);
    Solve s(make_dictionary(dict.detach(), kind, stride, padding, out_h, out_w), x.detach(),
            has_z0 ? z0.detach() : torch::Tensor(), eta, K, fista, p);
    const CheckpointSchedule schedule(K, slots);
    // The first pass stores the states the reversal's first descent asks for
    // (the same rule the backward applies), so the backward starts without
    // re-advancing.
    std::vector<int64_t> stored_at;
    std::vector<torch::Tensor> stored;
    int64_t free_slots = slots, last = 0;
    int64_t next_store = schedule.split(K, free_slots);  // 0: none
    torch::Tensor z, z_prev;
    for (int64_t k = 0; k < K; ++k) {
      torch::Tensor y = k == 0 ? s.z0 : s.extrapolate(k, z, z_prev);  // y₀ = z₀ (undefined: 0)
      z_prev.reset();  // S_{k+1} = (z_{k+1}, z_k): z_{k−1} is done with
      torch::Tensor z_next = s.step(k, y);  // z_{k+1}
      y.reset();
      if (k == 0) {
        z = s.start(z_next);
        s.set_code_shape(z_next.sizes().vec());
      }
      z_prev = std::move(z);
      z = std::move(z_next);
      if (next_store > 0 && k + 1 == last + next_store) {
        const Snapshot snap = s.snapshot(k + 1, z, z_prev);
        stored_at.push_back(k + 1);
        for (const auto& t : {snap.z, snap.z_bits, snap.z_prev, snap.z_prev_bits})
          stored.push_back(t.defined() ? t : torch::empty({0}, x.options().dtype(torch::kUInt8)));
        last = k + 1;
        --free_slots;
        next_store = schedule.split(K - last, free_slots);
      }
    }
    ctx->save_for_backward({x, dict, z0});
    ctx->saved_data["has_z0"] = has_z0;
    ctx->saved_data["kind"] = kind;
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["out_h"] = out_h;
    ctx->saved_data["out_w"] = out_w;
    ctx->saved_data["eta"] = eta;
    ctx->saved_data["K"] = K;
    ctx->saved_data["fista"] = fista;
    ctx->saved_data["lambda"] = lambda;
    ctx->saved_data["mu"] = mu;
    ctx->saved_data["nonnegative"] = nonnegative;
    ctx->saved_data["slots"] = slots;
    ctx->saved_data["code_shape"] = z.sizes().vec();
    ctx->saved_data["stored_at"] = stored_at;
    ctx->saved_data["stored"] = stored;
    return z;  // (B, C, …): z_K
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list out(16);
    if (!grads[0].defined()) return out;
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1),
               need_z0 = ctx->needs_input_grad(2);
    auto saved = ctx->get_saved_variables();
    auto& d = ctx->saved_data;
    const int64_t K = d["K"].toInt(), slots = d["slots"].toInt();
    const double eta = d["eta"].toDouble();
    const auto p = ProxOptions()
                       .lambda(d["lambda"].toDouble())
                       .mu(d["mu"].toDouble())
                       .nonnegative(d["nonnegative"].toBool());
    Solve s(make_dictionary(saved[1].detach(), d["kind"].toInt(), d["stride"].toInt(),
                            d["padding"].toInt(), d["out_h"].toInt(), d["out_w"].toInt()),
            saved[0].detach(), d["has_z0"].toBool() ? saved[2].detach() : torch::Tensor(), eta, K,
            d["fista"].toBool(), p);
    s.set_code_shape(d["code_shape"].toIntVector());
    const CheckpointSchedule schedule(K, slots);

    UnrolledBackwardStats stats;
    stats.steps = K;
    std::map<int64_t, Snapshot> stored;
    {
      const auto at = d["stored_at"].toIntVector();
      const auto tensors = d["stored"].toTensorVector();
      auto bits = [](const torch::Tensor& t) { return t.numel() > 0 ? t : torch::Tensor(); };
      for (size_t i = 0; i < at.size(); ++i) {
        stored[at[i]] = {tensors[4 * i], bits(tensors[4 * i + 1]), tensors[4 * i + 2],
                         bits(tensors[4 * i + 3])};
      }
      // The map now owns them: each is freed once its step is reversed. (A
      // second backward, retain_graph, finds none and recomputes from z₀:
      // slower, the same gradients.)
      d["stored_at"] = std::vector<int64_t>{};
      d["stored"] = std::vector<torch::Tensor>{};
    }
    auto state_bytes = [&] {
      int64_t b = 0;
      for (const auto& kv : stored) b += kv.second.bytes();
      return b;
    };
    auto note_peak = [&] {
      stats.peak_states = std::max<int64_t>(stats.peak_states, static_cast<int64_t>(stored.size()));
      stats.peak_state_bytes = std::max(stats.peak_state_bytes, state_bytes());
    };
    note_peak();
    stats.saved_bytes = stats.peak_state_bytes;

    const torch::Tensor like = grads[0];
    torch::Tensor g_cur = grads[0].clone(at::MemoryFormat::Contiguous);  // ḡz_{k+1}, complete
    torch::Tensor g_prev;                                  // ḡz_k so far (undefined: 0)
    torch::Tensor gx_sum, gw_sum;                          // Σ D ḡv, Σ ∂_W terms (η applied last)
    torch::Tensor z, z_prev;                               // the state S_k being reversed
    for (int64_t k = K - 1; k >= 0; --k) {
      // S_k from the nearest stored state at or before k, storing states on
      // the way where the schedule asks (binomial checkpointing).
      auto it = stored.upper_bound(k);
      int64_t i = 0;
      if (it != stored.begin()) {
        --it;
        i = it->first;
        z = s.expand(i, it->second.z, it->second.z_bits, like);
        z_prev = s.expand(i - 1, it->second.z_prev, it->second.z_prev_bits, like);
      } else {
        z = s.start(like);
        z_prev = z;
      }
      while (i < k) {
        const int64_t n = k - i + 1;
        const int64_t m = schedule.split(n, slots - static_cast<int64_t>(stored.size()));
        const int64_t target = m > 0 ? i + m : k;
        for (; i < target; ++i) {
          torch::Tensor y = i == 0 ? s.z0 : s.extrapolate(i, z, z_prev);
          z_prev.reset();  // S_{i+1} = (z_{i+1}, z_i): z_{i−1} is done with
          z_prev = std::move(z);
          z = s.step(i, y);
          ++stats.recomputed_steps;
        }
        if (m > 0) {
          stored[i] = s.snapshot(i, z, z_prev);
          note_peak();
        }
      }
      // Reverse step k: z_{k+1} = prox(v_{k+1}), v_{k+1} = y_k + ηDᵀ(x − D y_k).
      // Each tensor is released as soon as it is used: the working set, not
      // the stored states, is most of the backward's memory.
      const bool from_zero = k == 0 && !s.z0.defined();  // y₀ = 0: v₁ = ηDᵀx
      torch::Tensor y = from_zero ? torch::Tensor() : s.extrapolate(k, z, z_prev);
      z.reset();
      z_prev.reset();
      // The step itself, once more (the forward's roundings): its residual
      // r_k for the dictionary's gradient and z_{k+1} for the active set
      // m_{k+1}, which is therefore never stored.
      torch::Tensor r;
      torch::Tensor gv = std::move(g_cur);  // ḡv = s·m ⊙ ḡz_{k+1}, in place
      if (s.has_mask) {
        gv.mul_(s.active(s.step(k, y, need_w ? &r : nullptr)));
      } else if (need_w) {
        r = from_zero ? s.x : s.D.synthesis(y).neg_().add_(s.x);  // x − D y
      }
      if (s.shrink != 1.0) gv.mul_(s.shrink);
      torch::Tensor Dgv = s.D.synthesis(gv);  // signal shape
      if (need_x) {
        if (gx_sum.defined()) {
          gx_sum.add_(Dgv);
        } else {
          gx_sum = Dgv.clone();
        }
      }
      if (need_w) {
        // ∂_W of ⟨ḡv, ηDᵀ(x − D y)⟩: through Dᵀ with r fixed, and through D
        // in D y with D ḡv fixed (⟨D ḡv, D y⟩ = ⟨y, Dᵀ(D ḡv)⟩).
        torch::Tensor gw = s.D.weight_gradient(gv, r);
        r.reset();
        if (!from_zero) gw.sub_(s.D.weight_gradient(y, Dgv));
        if (gw_sum.defined()) {
          gw_sum.add_(gw);
        } else {
          gw_sum = gw;
        }
      }
      y.reset();
      if (k > 0 || (need_z0 && !from_zero)) {
        // ḡy_k = ḡv − ηDᵀD ḡv; y_k = (1 + c_k) z_k − c_k z_{k−1}.
        torch::Tensor gy = s.D.analysis(Dgv).mul_(-eta).add_(gv);
        Dgv.reset();
        gv.reset();
        const double ck = s.c[static_cast<size_t>(k)];
        if (g_prev.defined()) {
          g_cur = g_prev.add_(gy, 1.0 + ck);
        } else {
          g_cur = ck == 0.0 ? gy : gy * (1.0 + ck);
        }
        g_prev = ck != 0.0 ? gy.mul_(-ck) : torch::Tensor();
      }
      stored.erase(k);  // S_k is not needed again (k = 0 is never stored)
    }
    if (need_x) out[0] = gx_sum.mul_(eta);
    if (need_w) out[1] = gw_sum.mul_(eta);
    if (need_z0) out[2] = g_cur;  // ḡz₀ (c₀ = c₁ = 0: nothing else reaches z₀)
    {
      std::lock_guard<std::mutex> lock(stats_mutex);
      stats_of_last = stats;
    }
    return out;
  }
};

torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& dict, const torch::Tensor& z0,
                    int64_t kind, const ConvGeometry& g, int64_t out_h, int64_t out_w,
                    const UnrolledOptions& o) {
  TORCH_CHECK(o.step() > 0.0 && std::isfinite(o.step()), "unrolled lasso: step must be > 0");
  TORCH_CHECK(o.iterations() >= 1, "unrolled lasso: iterations must be >= 1");
  TORCH_CHECK(o.checkpoints() >= 0, "unrolled lasso: checkpoints must be >= 0");
  // LibTorch's custom functions record every tensor input's device, so an
  // absent z₀ travels as an empty tensor and a flag.
  const bool has_z0 = z0.defined();
  return UnrolledLassoFunction::apply(x, dict, has_z0 ? z0 : torch::empty({0}, x.options()), has_z0,
                                      kind, g.stride, g.padding, out_h, out_w,
                                      o.step(), o.iterations(), o.momentum() == Momentum::kFista,
                                      o.prox().lambda(), o.prox().mu(), o.prox().nonnegative(),
                                      o.checkpoints());
}

}  // namespace

torch::Tensor unrolled_conv_lasso(const torch::Tensor& x, const torch::Tensor& dictionary,
                                  const ConvGeometry& g, const torch::Tensor& z0,
                                  const UnrolledOptions& options) {
  TORCH_CHECK(x.dim() == 4, "unrolled_conv_lasso: expected x (B, M, H, W), got ", x.sizes());
  return apply(x, dictionary, z0, 0, g, x.size(2), x.size(3), options);  // (B, C, Hz, Wz)
}

torch::Tensor unrolled_linear_lasso(const torch::Tensor& x, const torch::Tensor& dictionary,
                                    const torch::Tensor& z0, const UnrolledOptions& options) {
  TORCH_CHECK(x.dim() == 2, "unrolled_linear_lasso: expected x (B, d), got ", x.sizes());
  return apply(x, dictionary, z0, 1, ConvGeometry{}, 0, 0, options);  // (B, C)
}

UnrolledBackwardStats last_unrolled_backward_stats() {
  std::lock_guard<std::mutex> lock(stats_mutex);
  return stats_of_last;
}

}  // namespace sparseloop
