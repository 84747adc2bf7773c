#include "sparseloop/sparse/coordinate_descent.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>

#include "sparseloop/util/simd.h"

namespace sparseloop {
namespace {

/// y −= a·x over n values: every coordinate update's covariance update.
SPARSELOOP_SIMD_CLONES void axpy_neg(int64_t n, double a, const double* __restrict x,
                                     double* __restrict y) {
  for (int64_t i = 0; i < n; ++i) y[i] -= a * x[i];
}
SPARSELOOP_SIMD_CLONES void axpy_neg(int64_t n, float a, const float* __restrict x,
                                     float* __restrict y) {
  for (int64_t i = 0; i < n; ++i) y[i] -= a * x[i];
}

/// One sample's solve: z (k) and c = b − Gz (k, the negative gradient of the
/// smooth part without μ) are updated together, so that a coordinate update
/// costs one axpy with a column of G (Friedman et al. 2010, §2.2).
template <class T>
struct SampleSolver {
  const T* G;        // (k, k), symmetric: row j is column j
  int64_t k;
  T lambda, mu;
  bool nonnegative;
  std::vector<T> diag;  // G_jj + μ, the curvature of each coordinate

  // Workspaces reused across the samples of one thread.
  std::vector<T> c, gaa, za, ca, za_start;
  std::vector<int64_t> active;

  /// argmin over z_j of the 1-D problem: S_λ(ρ)/(G_jj + μ) (non-negative:
  /// (ρ − λ)₊/(G_jj + μ)), ρ = c_j + G_jj z_j the correlation without z_j.
  T update(T rho, T curvature) const {
    if (nonnegative) return rho > lambda ? (rho - lambda) / curvature : T(0);
    if (rho > lambda) return (rho - lambda) / curvature;
    if (rho < -lambda) return (rho + lambda) / curvature;
    return T(0);
  }

  /// Violation of coordinate j's optimality condition, r = c_j − μ z_j.
  T violation(T cj, T zj) const {
    const T r = cj - mu * zj;
    if (zj != 0) return std::abs(r - (zj > 0 ? lambda : -lambda));
    return nonnegative ? std::max(r - lambda, T(0)) : std::max(std::abs(r) - lambda, T(0));
  }

  /// Solves one row; returns the sweeps run and writes the relative KKT violation.
  int64_t solve(const T* b, T* z, int64_t max_sweeps, double tolerance, double* kkt) {
    c.assign(b, b + k);
    std::fill(z, z + k, T(0));
    T scale = 0;
    for (int64_t j = 0; j < k; ++j) scale = std::max(scale, std::abs(b[j]));
    if (scale == 0) {  // b = 0: z = 0 is the minimizer
      *kkt = 0;
      return 0;
    }
    const T tol = static_cast<T>(tolerance) * scale;
    // "Nothing moved": every update under a few ulps of the largest code.
    const T eps = 4 * std::numeric_limits<T>::epsilon();
    int64_t sweeps = 0;
    T worst = 0;
    while (sweeps < max_sweeps) {
      // Full sweep: every coordinate, so that new atoms can enter the support.
      T moved = 0, zmax = 0;
      for (int64_t j = 0; j < k; ++j) {
        const T curvature = diag[j];
        if (curvature <= 0) continue;  // zero atom: z_j stays 0
        const T zj = z[j];
        const T zn = update(c[j] + (curvature - mu) * zj, curvature);
        if (zn != zj) {
          const T delta = zn - zj;
          z[j] = zn;
          axpy_neg(k, delta, G + j * k, c.data());  // c = b − Gz
          moved = std::max(moved, std::abs(delta));
        }
        zmax = std::max(zmax, std::abs(zn));
      }
      ++sweeps;
      worst = 0;
      for (int64_t j = 0; j < k; ++j) worst = std::max(worst, violation(c[j], z[j]));
      // Done: nothing moved, or the conditions hold to the tolerance (with
      // tolerance 0, to rounding: ill-conditioned supports never stop moving
      // by a few ulps, yet their KKT violation reaches ≈ 16ε).
      if (moved <= eps * zmax || worst <= std::max(tol, 4 * eps * scale)) break;
      refine_support(b, z, max_sweeps, tol, eps, sweeps);
    }
    worst = 0;
    for (int64_t j = 0; j < k; ++j) worst = std::max(worst, violation(c[j], z[j]));
    *kkt = static_cast<double>(worst / scale);
    return sweeps;
  }

  /// Sweeps between two attempts of support_newton, and the most sweeps
  /// on the support before the next full sweep (without a cap, a support
  /// that should change keeps its sweeps crawling and never gets corrected).
  static constexpr int64_t kNewtonEvery = 4, kRefineSweeps = 32;
  std::vector<T> h, w;
  std::vector<int64_t> on;

  /// On the codes that are non-zero, with their signs s fixed, the problem
  /// is the quadratic ½zᵀ(G + μI)z − (b − λs)ᵀz: its minimizer w solves
  /// (G_SS + μI)w = b_S − λs_S (Cholesky, S the non-zero codes). Accepted
  /// only when w keeps the signs s, so that it lowers the objective below the
  /// current codes' (which have the same signs); then c_A is recomputed. The
  /// next sweep moving nothing proves it optimal on the support. Returns
  /// false (nothing changed) when the signs flip or G_SS + μI is singular.
  /// (The feature-sign step of Lee, Battle, Raina & Ng 2007, without their
  /// line search: coordinate descent does the rest.)
  bool support_newton(const T* b, int64_t m) {
    on.clear();
    for (int64_t a = 0; a < m; ++a)
      if (za[a] != 0) on.push_back(a);
    const int64_t p = static_cast<int64_t>(on.size());
    if (p == 0) return false;
    h.resize(p * p);
    w.resize(p);
    for (int64_t r = 0; r < p; ++r) {
      for (int64_t q = 0; q <= r; ++q) h[r * p + q] = gaa[on[r] * m + on[q]];
      h[r * p + r] += mu;
      w[r] = b[active[on[r]]] - (za[on[r]] > 0 ? lambda : -lambda);
    }
    // In-place Cholesky of the lower triangle, H = LLᵀ.
    T dmax = 0;
    for (int64_t r = 0; r < p; ++r) dmax = std::max(dmax, h[r * p + r]);
    for (int64_t r = 0; r < p; ++r) {
      for (int64_t q = 0; q <= r; ++q) {
        T sum = h[r * p + q];
        for (int64_t t = 0; t < q; ++t) sum -= h[r * p + t] * h[q * p + t];
        if (q == r) {
          if (!(sum > dmax * 64 * std::numeric_limits<T>::epsilon())) return false;  // singular
          h[r * p + r] = std::sqrt(sum);
        } else {
          h[r * p + q] = sum / h[q * p + q];
        }
      }
    }
    for (int64_t r = 0; r < p; ++r) {  // L y = rhs
      T sum = w[r];
      for (int64_t t = 0; t < r; ++t) sum -= h[r * p + t] * w[t];
      w[r] = sum / h[r * p + r];
    }
    for (int64_t r = p - 1; r >= 0; --r) {  // Lᵀ w = y
      T sum = w[r];
      for (int64_t t = r + 1; t < p; ++t) sum -= h[t * p + r] * w[t];
      w[r] = sum / h[r * p + r];
    }
    for (int64_t r = 0; r < p; ++r)
      if (!((w[r] > 0) == (za[on[r]] > 0) && w[r] != 0)) return false;  // a sign flipped
    for (int64_t r = 0; r < p; ++r) za[on[r]] = w[r];
    for (int64_t a = 0; a < m; ++a) {  // c_A = b_A − G_AA z_A, z zero off A
      T sum = b[active[a]];
      const T* Ga = gaa.data() + a * m;
      for (int64_t r = 0; r < p; ++r) sum -= Ga[on[r]] * za[on[r]];
      ca[a] = sum;
    }
    return true;
  }

  /// Sweeps over the current support only, on a compact copy of G's
  /// support block (m×m instead of k-long columns), until it stops moving or
  /// satisfies its own KKT conditions; then c is brought up to date once
  /// (one axpy per support column): the active-set cycling of §2.6.
  void refine_support(const T* b, T* z, int64_t max_sweeps, T tol, T eps, int64_t& sweeps) {
    active.clear();
    for (int64_t j = 0; j < k; ++j)
      if (z[j] != 0) active.push_back(j);
    const int64_t m = static_cast<int64_t>(active.size());
    if (m == 0) return;
    gaa.resize(m * m);
    za.resize(m);
    ca.resize(m);
    za_start.resize(m);
    for (int64_t a = 0; a < m; ++a) {
      const T* Gj = G + active[a] * k;
      for (int64_t e = 0; e < m; ++e) gaa[a * m + e] = Gj[active[e]];  // G_AA, (m, m)
      za[a] = za_start[a] = z[active[a]];
      ca[a] = c[active[a]];
    }
    int64_t inner = 0;
    while (sweeps < max_sweeps) {
      // Every few sweeps, try the exact minimizer for the current signs:
      // with strongly correlated atoms coordinate descent converges slowly
      // (MNIST digits as atoms: > 1000 sweeps), one m×m solve does not.
      if (inner == kRefineSweeps) break;  // back to a full sweep: the support may be wrong
      if (++inner % kNewtonEvery == 0) support_newton(b, m);
      T moved = 0, zmax = 0;
      for (int64_t a = 0; a < m; ++a) {
        const T curvature = diag[active[a]];
        const T zj = za[a];
        const T zn = update(ca[a] + (curvature - mu) * zj, curvature);
        if (zn != zj) {
          const T delta = zn - zj;
          za[a] = zn;
          axpy_neg(m, delta, gaa.data() + a * m, ca.data());
          moved = std::max(moved, std::abs(delta));
        }
        zmax = std::max(zmax, std::abs(zn));
      }
      ++sweeps;
      if (moved <= eps * zmax) break;
      if (tol > 0) {
        T worst = 0;
        for (int64_t a = 0; a < m; ++a) worst = std::max(worst, violation(ca[a], za[a]));
        if (worst <= tol) break;
      }
    }
    for (int64_t a = 0; a < m; ++a) {
      const T delta = za[a] - za_start[a];
      z[active[a]] = za[a];
      if (delta != 0) axpy_neg(k, delta, G + active[a] * k, c.data());
    }
  }
};

template <class T>
void solve_all(const torch::Tensor& gram, const torch::Tensor& b, const ProxOptions& p,
               const CoordinateDescentOptions& o, torch::Tensor& z, torch::Tensor& sweeps,
               torch::Tensor& kkt) {
  const int64_t B = b.size(0), k = b.size(1);
  const T* G = gram.data_ptr<T>();
  const T* bp = b.data_ptr<T>();
  T* zp = z.data_ptr<T>();
  int64_t* sp = sweeps.data_ptr<int64_t>();
  double* kp = kkt.data_ptr<double>();
  std::vector<T> diag(k);
  for (int64_t j = 0; j < k; ++j) diag[j] = G[j * k + j] + static_cast<T>(p.mu());
  // A few samples per task: each is ≈ k·(sweeps + support changes) work.
  at::parallel_for(0, B, 8, [&](int64_t begin, int64_t end) {
    SampleSolver<T> s{G, k, static_cast<T>(p.lambda()), static_cast<T>(p.mu()), p.nonnegative(),
                      diag, {}, {}, {}, {}, {}, {}};
    for (int64_t i = begin; i < end; ++i)
      sp[i] = s.solve(bp + i * k, zp + i * k, o.max_sweeps(), o.tolerance(), kp + i);
  });
}

}  // namespace

CoordinateDescentResult coordinate_descent_lasso(const torch::Tensor& gram, const torch::Tensor& b,
                                                 const ProxOptions& penalty,
                                                 const CoordinateDescentOptions& options) {
  TORCH_CHECK(b.dim() == 2, "coordinate_descent_lasso: b must be (B, k), got shape ", b.sizes());
  TORCH_CHECK(gram.dim() == 2 && gram.size(0) == b.size(1) && gram.size(1) == b.size(1),
              "coordinate_descent_lasso: gram must be (", b.size(1), ", ", b.size(1), "), got ",
              gram.sizes());
  TORCH_CHECK(b.device().is_cpu() && gram.device().is_cpu(),
              "coordinate_descent_lasso: CPU tensors only");
  TORCH_CHECK(b.scalar_type() == gram.scalar_type() &&
                  (b.scalar_type() == torch::kFloat || b.scalar_type() == torch::kDouble),
              "coordinate_descent_lasso: gram and b must both be float32 or both float64");
  TORCH_CHECK(options.max_sweeps() >= 1, "coordinate_descent_lasso: max_sweeps must be >= 1");
  TORCH_CHECK(options.tolerance() >= 0, "coordinate_descent_lasso: tolerance must be >= 0");
  TORCH_CHECK(penalty.lambda() >= 0 && penalty.mu() >= 0,
              "coordinate_descent_lasso: lambda and mu must be >= 0");
  torch::NoGradGuard no_grad;
  auto G = gram.contiguous();
  auto bc = b.contiguous();
  CoordinateDescentResult r;
  r.z = torch::empty_like(bc);
  r.sweeps = torch::zeros({bc.size(0)}, torch::kLong);
  r.kkt = torch::zeros({bc.size(0)}, torch::kDouble);
  if (bc.scalar_type() == torch::kDouble) {
    solve_all<double>(G, bc, penalty, options, r.z, r.sweeps, r.kkt);
  } else {
    solve_all<float>(G, bc, penalty, options, r.z, r.sweeps, r.kkt);
  }
  return r;
}

}  // namespace sparseloop
