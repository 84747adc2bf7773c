#include "sparseloop/sparse/lipschitz.h"

#include <ATen/CPUGeneratorImpl.h>
#include <cmath>

#include "sparseloop/util/distributed.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/precision.h"

namespace sparseloop {

torch::Tensor power_iteration_start(at::IntArrayRef shape, const torch::TensorOptions& options) {
  auto gen = at::detail::createCPUGenerator(/*seed_val=*/20240101);
  auto v = at::randn(shape, gen, torch::TensorOptions().dtype(torch::kDouble));
  v = v / v.norm();
  return v.to(options);
}

PowerIterationResult power_iteration(const SparseOperator& op, torch::Tensor& v,
                                     int64_t max_iterations, double tolerance) {
  torch::NoGradGuard no_grad;
  // The step size 1/L is estimated in fp32 whatever --precision says: bf16's
  // 3 significant digits would keep a 1e-3 relative tolerance from ever being
  // met, and an L estimated low makes FISTA diverge.
  PrecisionGuard fp32(Precision::kFp32);
  TORCH_CHECK(v.defined() && v.numel() > 0, "power_iteration: start vector is empty");
  PowerIterationResult r;
  v = v / v.norm().clamp_min(1e-30);
  double previous = 0.0;
  for (int64_t i = 0; i < max_iterations; ++i) {
    auto dv = op.synthesis(v);           // signal shape
    auto w = op.analysis(dv);            // code shape: DᵀD v
    const double estimate = dv.pow(2).sum().item<double>();  // vᵀDᵀDv, ‖v‖ = 1
    const double wn = w.norm().item<double>();
    r.iterations = i + 1;
    r.lipschitz = estimate;
    if (!(wn > 0.0) || !std::isfinite(wn)) break;  // D = 0 or broken: keep v
    v = w / wn;
    if (tolerance > 0.0 && i > 0 && std::abs(estimate - previous) <= tolerance * estimate) break;
    previous = estimate;
  }
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
  bool cold = vector_.sizes() != code_shape || dictionary_.sizes() != dictionary.sizes() ||
              lipschitz_.item<double>() <= 0.0;
  bool run = cold || p.refresh == StepRefresh::kEveryForward;
  if (!cold && p.refresh != StepRefresh::kFixed) {
    // How far the dictionary moved since L's estimate, both read in one
    // device synchronization: any change (max |ΔD| > 0, exact), and the
    // relative move that decides a cold restart. On the CPU an exact equality
    // test goes first: one pass without allocation where the reading below
    // takes four passes and two dictionary-sized temporaries (3 % of a
    // CSC-CTRL game step, whose encoders see each dictionary twice unchanged;
    // docs/performance.md, "Per-shape bf16 weight gradients, and the rest of
    // the step"). Not on a GPU: a second synchronization.
    const auto ref = dictionary_.to(dictionary.dtype());
    const bool cpu = dictionary.device().is_cpu();
    const bool same = cpu && torch::equal(dictionary, ref);
    if (!same && cpu && p.restart_threshold <= 0.0) {
      run = true;  // changed, and no restart rule needs the size of the move
    } else if (!same) {
      const auto delta = dictionary - ref;
      auto both = torch::stack({delta.abs().max().to(torch::kDouble),
                                (delta.norm() / ref.norm().clamp_min(1e-30)).to(torch::kDouble)})
                      .cpu();
      const double max_change = both[0].item<double>(), move = both[1].item<double>();
      if (max_change > 0.0) run = true;
      if (p.restart_threshold > 0.0 && move > p.restart_threshold) cold = true;
    }
  }
  if (run) {
    auto v = cold ? power_iteration_start(code_shape, dictionary.options())
                  : vector_.to(dictionary.options());
    auto r = power_iteration(op, v, cold ? p.initial_power_iterations : p.power_iterations,
                             cold ? 1e-6 : p.power_tolerance);
    last_iterations_ = r.iterations;
    last_cold_ = cold;
    vector_.resize_(code_shape);
    vector_.copy_(v);
    lipschitz_.fill_(r.lipschitz);
    // Data-parallel ranks hold the same dictionary, but a GPU's power
    // iteration need not round the same way twice: rank 0's L is every
    // rank's, so the ranks unroll the same FISTA (the refresh decision above
    // reads the dictionary alone, so every rank gets here together).
    if (distributed()) world().broadcast(lipschitz_, 0);
    dictionary_.resize_(dictionary.sizes());
    dictionary_.copy_(dictionary);
  }
  return lipschitz_.item<double>();
}

}  // namespace sparseloop
