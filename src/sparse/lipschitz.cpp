#include "sparseloop/sparse/lipschitz.h"

#include <ATen/CPUGeneratorImpl.h>
#include <cmath>

#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/host_read.h"
#include "sparseloop/util/precision.h"

namespace sparseloop {

torch::Tensor power_iteration_start(at::IntArrayRef shape, const torch::TensorOptions& options) {
  auto gen = at::detail::createCPUGenerator(/*seed_val=*/20240101);
  auto v = at::randn(shape, gen, torch::TensorOptions().dtype(torch::kDouble));
  v = v / v.norm();
  return v.to(options);
}

PowerIterationResult power_iteration(const SparseOperator& op, torch::Tensor& v,
                                     int64_t max_iterations, double tolerance, double previous) {
  torch::NoGradGuard no_grad;
  // The step size 1/L is estimated in fp32 whatever --precision says: bf16's
  // 3 significant digits would keep a 1e-3 relative tolerance from ever being
  // met, and an L estimated low makes FISTA diverge.
  PrecisionGuard fp32(Precision::kFp32);
  TORCH_CHECK(v.defined() && v.numel() > 0, "power_iteration: start vector is empty");
  PowerIterationResult r;
  v = v / v.norm().clamp_min(1e-30);
  for (int64_t i = 0; i < max_iterations; ++i) {
    auto dv = op.synthesis(v);           // signal shape
    auto w = op.analysis(dv);            // code shape: DᵀD v
    // vᵀDᵀDv (‖v‖ = 1) and ‖DᵀDv‖ in one device read (util/host_read.h).
    const auto read = host_read({dv.pow(2).sum(), w.norm()});
    const double estimate = read[0], wn = read[1];
    r.iterations = i + 1;
    r.lipschitz = estimate;
    if (!(wn > 0.0) || !std::isfinite(wn)) break;  // D = 0 or broken: keep v
    v = w / wn;
    // previous > 0: an estimate to compare with (the stored L, or the last
    // iteration's, which is > 0 once wn > 0 above).
    if (tolerance > 0.0 && previous > 0.0 && std::abs(estimate - previous) <= tolerance * estimate)
      break;
    previous = estimate;
  }
  return r;
}

namespace {

/// The largest eigenvalue of the symmetric tridiagonal matrix with diagonal
/// `a` and off-diagonal `b` (b.size() + 1 == a.size()), by bisection on its
/// Sturm sequence: the count of negative pivots of T − σI is the number of
/// eigenvalues below σ (Golub & Van Loan §8.4.1). Microseconds for the
/// ≤ 100 × 100 of a cold estimate, where a LAPACK call per Lanczos step cost
/// more than the step's products.
double tridiagonal_top_eigenvalue(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  double lo = a[0], hi = a[0];
  for (size_t i = 0; i < n; ++i) {  // Gershgorin: every eigenvalue lies in [lo, hi]
    const double r = (i > 0 ? std::abs(b[i - 1]) : 0.0) + (i + 1 < n ? std::abs(b[i]) : 0.0);
    lo = std::min(lo, a[i] - r);
    hi = std::max(hi, a[i] + r);
  }
  const auto below = [&](double sigma) {  // eigenvalues < σ
    size_t count = 0;
    double d = 1.0;
    for (size_t i = 0; i < n; ++i) {
      d = a[i] - sigma - (i > 0 ? b[i - 1] * b[i - 1] / d : 0.0);
      if (d == 0.0) d = -1e-300;  // σ on a pivot: count it below, move on
      if (d < 0.0) ++count;
    }
    return count;
  };
  for (int it = 0; it < 200 && hi - lo > 1e-14 * std::max(std::abs(hi), std::abs(lo)); ++it) {
    const double mid = 0.5 * (lo + hi);
    if (below(mid) == n) hi = mid;  // all n below: the top one is below mid
    else lo = mid;
  }
  return hi;
}

template <typename T>
std::pair<double, double> orthogonalize_rows(T* __restrict w, const T* __restrict q,
                                             const T* __restrict q_prev, int64_t n,
                                             double beta) {
  double dot = 0.0;
#pragma omp simd reduction(+ : dot)
  for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(w[i]) * static_cast<double>(q[i]);
  const T sa = static_cast<T>(dot), sb = static_cast<T>(beta);
  double norm2 = 0.0;
  if (q_prev) {
#pragma omp simd reduction(+ : norm2)
    for (int64_t i = 0; i < n; ++i) {
      const T u = w[i] - sa * q[i] - sb * q_prev[i];
      w[i] = u;
      norm2 += static_cast<double>(u) * static_cast<double>(u);
    }
  } else {
#pragma omp simd reduction(+ : norm2)
    for (int64_t i = 0; i < n; ++i) {
      const T u = w[i] - sa * q[i];
      w[i] = u;
      norm2 += static_cast<double>(u) * static_cast<double>(u);
    }
  }
  return {dot, std::sqrt(norm2)};
}

/// One Lanczos step's vector work on w = DᵀD q: α = wᵀq, w ← w − α q − β q_prev,
/// and ‖w‖. On the CPU one pass for the dot product and one for the update
/// and the norm, sums in float64: the five tensor operations and two device
/// reads it replaced cost 20–50 µs a step, a fifth of the step at the code
/// sizes of SDNet's layers (docs/performance.md, "SDNet: cold estimates by
/// Lanczos, channels-last activations").
std::pair<double, double> lanczos_orthogonalize(torch::Tensor& w, const torch::Tensor& q,
                                                const torch::Tensor& q_prev, double beta) {
  if (!w.device().is_cpu() || !q.is_contiguous() ||
      (q_prev.defined() && !q_prev.is_contiguous()) ||
      (w.scalar_type() != torch::kFloat && w.scalar_type() != torch::kDouble)) {
    if (w.device().is_cpu()) {
      const double a = w.dot(q).item<double>();
      w.sub_(q, a);
      if (q_prev.defined()) w.sub_(q_prev, beta);
      return {a, w.norm().item<double>()};
    }
    // On a GPU α stays on the device until one read of α and ‖w‖
    // (util/host_read.h): one synchronization a step instead of two.
    const auto a = w.dot(q);  // ()
    w.sub_(q * a);
    if (q_prev.defined()) w.sub_(q_prev, beta);
    const auto read = host_read({a, w.norm()});
    return {read[0], read[1]};
  }
  std::pair<double, double> r;
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "lanczos_orthogonalize", [&] {
    r = orthogonalize_rows<scalar_t>(w.data_ptr<scalar_t>(), q.data_ptr<scalar_t>(),
                                     q_prev.defined() ? q_prev.data_ptr<scalar_t>() : nullptr,
                                     w.numel(), beta);
  });
  return r;
}

}  // namespace

PowerIterationResult lanczos_top_eigenvalue(const SparseOperator& op, torch::Tensor& v,
                                            int64_t max_iterations, double tolerance) {
  torch::NoGradGuard no_grad;
  PrecisionGuard fp32(Precision::kFp32);  // as power_iteration: L in fp32 whatever --precision
  TORCH_CHECK(v.defined() && v.numel() > 0, "lanczos_top_eigenvalue: start vector is empty");
  // Lanczos on DᵀD (Golub & Van Loan, Matrix Computations, §10.1): the top
  // eigenvalue of the tridiagonal T_j = Q_jᵀ DᵀD Q_j over the Krylov space of
  // v. Written here because LibTorch has no iterative eigensolver (ARPACK is
  // what SciPy's eigsh wraps). Like power iteration it reads DᵀD only through
  // products and approaches L from below (a Ritz value is a Rayleigh
  // quotient), but where power iteration's error shrinks like (λ₂/λ₁)^j its
  // shrinks like a Chebyshev polynomial in the gap's square root: DᵀD of a
  // convolution has its top eigenvalues clustered near max |D̂(ω)|², and a
  // cold start there ran power iteration's full 100 iterations without
  // meeting 1e-6 (docs/performance.md, "SDNet: cold estimates by Lanczos,
  // channels-last activations").
  // The plain three-term recurrence, without reorthogonalization: its loss of
  // orthogonality only repeats converged Ritz values (Paige), leaving the top
  // one a Rayleigh quotient to rounding; reorthogonalizing against the stored
  // basis read it four times a step and cost more than the products.
  const auto shape = v.sizes().vec();
  const int64_t n = v.numel();
  const int64_t kmax = std::max<int64_t>(1, std::min(max_iterations, n));
  auto basis = torch::empty({kmax, n}, v.options());  // (kmax, n): q_0 … q_j, for the Ritz vector
  {
    auto q0 = v.reshape({n});  // (n,)
    basis[0].copy_(q0 / q0.norm().clamp_min(1e-30));
  }
  std::vector<double> alpha, beta;  // T's diagonal α_0 … α_j, off-diagonal β_1 … β_j
  PowerIterationResult r;
  double previous = 0.0;
  for (int64_t j = 0; j < kmax; ++j) {
    const auto q = basis[j];  // (n,), a row of the basis
    auto w = op.analysis(op.synthesis(q.view(shape))).reshape({n}).contiguous();  // (n,): DᵀD q_j
    const torch::Tensor q_prev = j > 0 ? basis[j - 1] : torch::Tensor();
    const auto [a, b] = lanczos_orthogonalize(w, q, q_prev, j > 0 ? beta.back() : 0.0);
    alpha.push_back(a);
    const double theta = tridiagonal_top_eigenvalue(alpha, beta);
    r.iterations = j + 1;
    r.lipschitz = theta;
    if (!std::isfinite(theta) || !std::isfinite(b)) break;
    // β = 0: the Krylov space is invariant and θ is an exact eigenvalue.
    const bool invariant = !(b > 1e-7 * std::max(theta, 1e-30));
    const bool settled =
        tolerance > 0.0 && j > 0 && std::abs(theta - previous) <= tolerance * theta;
    if (invariant || settled || j + 1 == kmax) break;
    previous = theta;
    beta.push_back(b);
    basis[j + 1].copy_(w.div_(b));  // q_{j+1}
  }
  // The Ritz vector Q_j y (y: T_j's top eigenvector), the warm start of the
  // next refresh; one LAPACK call on T_j (float64, (j+1)×(j+1)).
  const int64_t m = r.iterations;
  auto T = torch::zeros({m, m}, torch::kDouble);
  auto t = T.accessor<double, 2>();
  for (int64_t i = 0; i < m; ++i) t[i][i] = alpha[i];
  for (int64_t i = 0; i + 1 < m; ++i) t[i][i + 1] = t[i + 1][i] = beta[i];
  auto y = std::get<1>(torch::linalg_eigh(T)).select(1, m - 1).to(v.options());  // (m,)
  auto x = basis.narrow(0, 0, m).t().mv(y);                                      // (n,)
  v = (x / x.norm().clamp_min(1e-30)).view(shape).contiguous();  // code shape, unit
  return r;
}

const char* to_string(StepRefresh r) {
  switch (r) {
    case StepRefresh::kEveryForward: return "every-forward";
    case StepRefresh::kOnChange: return "on-change";
    case StepRefresh::kFixed: return "fixed";
  }
  return "?";
}

StepRefresh parse_step_refresh(const std::string& s, const std::string& flag) {
  if (s == "every-forward") return StepRefresh::kEveryForward;
  if (s == "on-change") return StepRefresh::kOnChange;
  if (s == "fixed") return StepRefresh::kFixed;
  throw InputError(flag + " '" + s + "': expected every-forward, on-change or fixed");
}

namespace {

/// How far `d` moved from `ref` (same shape): max |d − ref| and the relative
/// Frobenius move ‖d − ref‖ / ‖ref‖.
struct DictionaryMove {
  double max_change = 0.0;
  double relative = 0.0;
};

/// One pass over both dictionaries on the CPU, vectorized, sums in double; a
/// NaN makes both results NaN, as the tensor expression it replaces
/// (`(d − ref).abs().max()`, `(d − ref).norm() / ref.norm()`: five passes,
/// two temporaries and a stack, 55–300 µs per layer and 2 ms of an SDNet-18-all
/// step where this loop takes tens of µs; docs/performance.md, "SDNet-18-all
/// within 2× ResNet-18"). Dictionaries are small: one thread.
/// The device form: max |d − ref| and ‖d − ref‖ / ‖ref‖ as 0-dim tensors,
/// for one host read with whatever else the caller reads.
std::vector<torch::Tensor> dictionary_move_terms(const torch::Tensor& d, const torch::Tensor& ref) {
  const auto delta = d - ref;
  return {delta.abs().max(), delta.norm() / ref.norm().clamp_min(1e-30)};
}

template <typename T>
DictionaryMove dictionary_move(const T* __restrict d, const T* __restrict ref, int64_t n) {
  double max_change = 0.0, diff2 = 0.0, ref2 = 0.0;
#pragma omp simd reduction(max : max_change) reduction(+ : diff2, ref2)
  for (int64_t i = 0; i < n; ++i) {
    const double r = static_cast<double>(ref[i]);
    const double delta = static_cast<double>(d[i]) - r;
    max_change = std::max(max_change, std::abs(delta));
    diff2 += delta * delta;
    ref2 += r * r;
  }
  // max may drop a NaN; the sum of squares keeps it.
  if (diff2 != diff2) return {diff2, diff2};
  return {max_change, std::sqrt(diff2) / std::max(std::sqrt(ref2), 1e-30)};
}

DictionaryMove dictionary_move(const torch::Tensor& d, const torch::Tensor& ref) {
  if (d.device().is_cpu() && d.scalar_type() == ref.scalar_type() &&
      (d.scalar_type() == torch::kFloat || d.scalar_type() == torch::kDouble)) {
    const auto dc = d.contiguous(), rc = ref.contiguous();
    if (d.scalar_type() == torch::kFloat)
      return dictionary_move(dc.data_ptr<float>(), rc.data_ptr<float>(), dc.numel());
    return dictionary_move(dc.data_ptr<double>(), rc.data_ptr<double>(), dc.numel());
  }
  // Elsewhere (a GPU): both read in one device synchronization.
  const auto both = host_read(dictionary_move_terms(d, ref));
  return {both[0], both[1]};
}

}  // namespace

void LipschitzCache::register_buffers(torch::nn::Module& m) {
  vector_ = m.register_buffer("power_vector", torch::zeros({0}));
  lipschitz_ = m.register_buffer("lipschitz", torch::zeros({}, torch::kDouble));
  dictionary_ = m.register_buffer("lipschitz_dictionary", torch::zeros({0}));
}

double LipschitzCache::value() const { return lipschitz_.item<double>(); }

bool LipschitzCache::current(const torch::Tensor& dictionary) const {
  torch::NoGradGuard no_grad;
  return dictionary_.sizes() == dictionary.sizes() && lipschitz_.item<double>() > 0.0 &&
         torch::equal(dictionary_, dictionary.detach().to(dictionary_.options()));
}

double LipschitzCache::reuse() {
  last_iterations_ = 0;
  last_cold_ = false;
  return value();
}

double LipschitzCache::refresh(const SparseOperator& op, const torch::Tensor& dictionary0,
                               at::IntArrayRef code_shape, const LipschitzPolicy& p) {
  torch::NoGradGuard no_grad;
  const torch::Tensor dictionary = dictionary0.detach();
  last_iterations_ = 0;
  last_cold_ = false;
  // How far the dictionary moved since L's estimate: any change (max |ΔD|
  // > 0, exact), and the relative move that decides a cold restart.
  const bool same_shapes =
      vector_.sizes() == code_shape && dictionary_.sizes() == dictionary.sizes();
  const bool compare = same_shapes && p.refresh != StepRefresh::kFixed;
  double lipschitz = 0.0;
  DictionaryMove move;
  if (compare && !dictionary.device().is_cpu()) {
    // The stored L and the move in one device synchronization (each read
    // waits for the queue to drain; they were two per layer and forward).
    auto terms = dictionary_move_terms(dictionary, dictionary_.to(dictionary.dtype()));
    const auto read = host_read({lipschitz_, terms[0], terms[1]});
    lipschitz = read[0];
    move = {read[1], read[2]};
  } else {
    // The stored L, read once (three reads were one per use).
    lipschitz = lipschitz_.item<double>();
    if (compare && lipschitz > 0.0)
      move = dictionary_move(dictionary, dictionary_.to(dictionary.dtype()));
  }
  bool cold = !same_shapes || lipschitz <= 0.0;
  bool run = cold || p.refresh == StepRefresh::kEveryForward;
  bool restart = false;  // cold after a large move, with a stored vector of this shape
  if (!cold && compare) {
    if (move.max_change > 0.0) run = true;
    if (p.restart_threshold > 0.0 && move.relative > p.restart_threshold) cold = restart = true;
  }
  if (run) {
    auto v = cold ? power_iteration_start(code_shape, dictionary.options())
                  : vector_.to(dictionary.options());
    if (restart) {
      // A restart's Lanczos starts from the fixed vector plus the stored one
      // (both unit): the fixed half keeps every eigenvector's component a
      // cold start has, so a top eigenvector that moved to another frequency
      // is still found; the stored half, the old top eigenvector, is near the
      // new one after most moves. SDNet's step bench (17 layers, 7.4 restarts
      // a step): 423 → 209 DᵀD products a step, the estimates within 5e-5 of
      // a 400-product reference as the fixed start's are within 3e-5
      // (docs/performance.md, "Restarts from the stored vector too").
      const double stored = vector_.norm().item<double>();
      if (std::isfinite(stored) && stored > 0.0)
        v.add_(vector_.to(dictionary.options()), 1.0 / stored);  // code shape
    }
    // Cold: Lanczos from the fixed start (docs/design.md §3.6); warm: power
    // iteration from the stored vector, its first estimate compared with the
    // stored L: "L changed by less than the tolerance" then needs one
    // iteration (two products), where comparing two fresh estimates always
    // took two — a dictionary that moved one SGD step has its top
    // eigenvector where it was (SDNet-18-all: 34 → 17 iterations per step,
    // docs/performance.md, "SDNet-18-all within 2× ResNet-18").
    auto r = cold ? lanczos_top_eigenvalue(op, v, p.initial_power_iterations, 1e-6)
                  : power_iteration(op, v, p.power_iterations, p.power_tolerance,
                                    lipschitz);
    last_iterations_ = r.iterations;
    last_cold_ = cold;
    vector_.resize_(code_shape);
    vector_.copy_(v);
    lipschitz_.fill_(r.lipschitz);
    // The buffer is float64 unless a module->to(dtype) converted it: then
    // return what it holds, as a reload would.
    lipschitz = lipschitz_.scalar_type() == torch::kDouble ? r.lipschitz
                                                           : lipschitz_.item<double>();
    // Data-parallel ranks hold the same dictionary, but a GPU's power
    // iteration need not round the same way twice: rank 0's L is every
    // rank's, so the ranks unroll the same FISTA (the refresh decision above
    // reads the dictionary alone, so every rank gets here together).
    if (distributed()) {
      world().broadcast(lipschitz_, 0);
      lipschitz = lipschitz_.item<double>();
    }
    dictionary_.resize_(dictionary.sizes());
    dictionary_.copy_(dictionary);
  }
  return lipschitz;
}

}  // namespace sparseloop
