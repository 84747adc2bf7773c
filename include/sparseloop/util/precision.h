// Compute precision of the heavy products: `--precision fp32|bf16` (issue 12).
//
// bf16 is mixed precision in the usual sense (PyTorch's autocast): the
// operands of the convolutions and dense products are rounded to bfloat16,
// the products accumulate in fp32 inside oneDNN/cuBLAS, and their results come
// back as fp32. Everything else — FISTA's iterates, the prox, momentum,
// BatchNorm, ΔR's log-determinants, the optimizers' state — stays fp32. We
// cast explicitly at the few places that own the products
// (sparse/conv_dictionary.cpp, util/dense_linear.cpp, the plain convolutions
// of SDNet) instead of enabling at::autocast: the dictionary's synthesis goes
// through the convolution backward-data primitive, which autocast does not
// cover, and autocast would hand bf16 tensors to the hand-written fp32 loops
// (util/simd.h) and to BatchNorm.
//
// fp32 is the default and is bit-for-bit what the code computed before this
// option existed; float64 tensors are never lowered (the gradient checks).
#pragma once

#include <string>

#include <torch/torch.h>

namespace sparseloop {

enum class Precision {
  kFp32,  ///< every product in float32 (default)
  kBf16,  ///< bfloat16 operands, float32 accumulation and results
};

const char* to_string(Precision p);
/// Parses "fp32" | "bf16"; InputError naming `flag` otherwise.
Precision parse_precision(const std::string& s, const std::string& flag = "--precision");
/// For the config visitors (engine/config.h).
inline void from_string(const std::string& s, Precision& p, const std::string& flag) {
  p = parse_precision(s, flag);
}

/// The process's compute precision. Process-wide rather than per thread: one
/// run has one precision, and the data-loading threads never compute products.
Precision compute_precision();
void set_compute_precision(Precision p);

/// Sets a precision for a scope and restores the previous one (tests, bench).
class PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision p) : previous_(compute_precision()) {
    set_compute_precision(p);
  }
  ~PrecisionGuard() { set_compute_precision(previous_); }
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  Precision previous_;
};

/// True when products of `t` are to run in bfloat16: bf16 is on and `t` is
/// float32 (float64 and bf16 tensors are left as they are).
bool lowers(const torch::Tensor& t);

/// `t` as bfloat16 when lowers(t), else `t` itself. Differentiable.
torch::Tensor lowered(const torch::Tensor& t);

/// conv2d(x, weight, bias, stride, padding) in the compute precision: bf16
/// operands and the result back in x's type when lowers(x), else plain conv2d.
torch::Tensor conv2d_in_precision(const torch::Tensor& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias, int64_t stride, int64_t padding);

/// Whether this CPU computes bf16 products natively (AVX-512-BF16 or AMX-BF16,
/// read from /proc/cpuinfo). Without either, oneDNN emulates bf16 and the
/// option costs time instead of saving it; `train` says so when asked for it.
bool cpu_has_native_bf16();

/// Whether the CPU has AVX-512 (AVX-512F), once per process: routes that
/// depend on the instruction set (sparse/conv_dictionary.cpp,
/// util/conv2d_bf16.cpp) ask here.
bool cpu_has_avx512();

/// Whether a product of `t` emulates bf16: a bf16 CPU tensor on a CPU without
/// bf16 arithmetic (cpu_has_native_bf16). There LibTorch 1.13's CPU bf16 GEMM
/// and convolutions fall back to kernels that accumulate in bf16 (relative
/// errors 0.6–1.9 % against float64 on util/conv2d_bf16's test shapes, where
/// fp32 accumulation stays under 0.4 %) and run 20× slower than fp32 (the
/// CSC-CTRL game step 7.2 s against 0.36 s on an AVX2 EPYC; docs/performance.md,
/// "An AVX2 EPYC without bf16 arithmetic"). So the products widen their bf16
/// operands to fp32 and round the result back to bf16: operands and result
/// rounded as on AMX, fp32 accumulation.
bool emulates_bf16(const torch::Tensor& t);
/// t as float32 when it is bf16 (exact), else t.
torch::Tensor widened(const torch::Tensor& t);
/// torch::matmul(a, b), widened to fp32 and rounded back where emulates_bf16(a).
torch::Tensor matmul_bf16(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace sparseloop
