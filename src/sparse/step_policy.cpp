#include "sparseloop/sparse/step_policy.h"

#include "sparseloop/util/error.h"

namespace sparseloop {

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

double refresh_lipschitz(const SparseOperator& op, const torch::Tensor& dictionary,
                         at::IntArrayRef code_shape, LipschitzState st, StepRefresh policy,
                         int64_t power_iterations, int64_t initial_power_iterations,
                         double tolerance, int64_t* iterations_run) {
  const bool cold = st.vector.sizes() != code_shape || st.lipschitz.item<double>() <= 0.0;
  const int64_t version = dictionary._version();
  const void* data = dictionary.data_ptr();
  const bool changed = version != st.seen_version || data != st.seen_data;
  bool run = cold;
  if (iterations_run) *iterations_run = 0;
  if (!cold) {
    switch (policy) {
      case StepRefresh::kEveryForward: run = true; break;
      case StepRefresh::kOnChange: run = changed; break;
      case StepRefresh::kFixed: run = false; break;
    }
  }
  if (run) {
    torch::NoGradGuard no_grad;
    auto v = cold ? power_iteration_start(code_shape, dictionary.options())
                  : st.vector.to(dictionary.options());
    const int64_t iters = cold ? initial_power_iterations : power_iterations;
    auto r = power_iteration(op, v, iters, cold ? 1e-6 : tolerance);
    if (iterations_run) *iterations_run = r.iterations;
    st.vector.resize_(code_shape);
    st.vector.copy_(v);
    st.lipschitz.fill_(r.lipschitz);
    st.seen_version = version;
    st.seen_data = data;
  }
  return st.lipschitz.item<double>();
}

torch::Tensor normalize_atoms(const torch::Tensor& weight) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < weight.dim(); ++d) dims.push_back(d);
  auto norms = weight.pow(2).sum(dims, /*keepdim=*/true).sqrt().clamp_min(1e-12);  // (C,1,..)
  return weight / norms;
}

}  // namespace sparseloop
