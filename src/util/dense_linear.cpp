#include "sparseloop/util/dense_linear.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "sparseloop/util/precision.h"
#include "sparseloop/util/blas_product.h"

namespace sparseloop {
namespace {

/// SPARSELOOP_GEMM forces the dense-product route: "blas" → BLAS, "onednn" →
/// oneDNN; unset or anything else → decided from the build and the process.
enum class GemmOverride { kNone, kBlas, kOnednn };

GemmOverride gemm_override() {
  const char* env = std::getenv("SPARSELOOP_GEMM");
  const std::string v = env ? env : "";
  if (v == "blas") return GemmOverride::kBlas;
  if (v == "onednn") return GemmOverride::kOnednn;
  return GemmOverride::kNone;
}

/// Whether LibTorch's build reports the generic (reference) BLAS.
bool generic_blas_build() {
  return at::show_config().find("BLAS_INFO=generic") != std::string::npos;
}

/// Whether this LibTorch was built with the generic (reference) BLAS.
bool reference_blas() {
  static const bool generic = [] {
    if (gemm_override() != GemmOverride::kNone) return gemm_override() == GemmOverride::kOnednn;
    return generic_blas_build() && at::show_config().find("USE_MKLDNN=ON") != std::string::npos;
  }();
  return generic;
}

}  // namespace

bool optimized_blas_loaded() {
  static const bool optimized = [] {
    if (gemm_override() != GemmOverride::kNone) return gemm_override() == GemmOverride::kBlas;
    if (!generic_blas_build()) return true;  // MKL, OpenBLAS builds
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line))
      for (const char* lib : {"openblas", "libmkl", "libblis"})
        if (line.find(lib) != std::string::npos) return true;
    return false;
  }();
  return optimized;
}

bool dense_linear_uses_onednn(const torch::Tensor& x) {
  // With an optimized BLAS loaded at run time (scripts/setup.sh installs
  // OpenBLAS), LibTorch's GEMM is the faster route: VDL inference (a
  // (250×128)·(128×128) product per step) took 560 ms through oneDNN against
  // 214 ms through OpenBLAS, same sitting (docs/performance.md).
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat && reference_blas() &&
         !(gemm_override() == GemmOverride::kNone && optimized_blas_loaded());
}

torch::Tensor dense_linear(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& bias) {
  TORCH_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1),
              "dense_linear: expected x (B, in) and weight (out, in), got ", x.sizes(), " and ",
              weight.sizes());
  if (lowers(x)) {  // --precision bf16: bf16 operands, fp32 result (util/precision.h)
    const auto xl = lowered(x), wl = lowered(weight), bl = lowered(bias);
    auto y = emulates_bf16(xl)  // widened for the product, rounded back (util/precision.h)
                 ? torch::nn::functional::linear(widened(xl), widened(wl), widened(bl))
                       .to(torch::kBFloat16)
                 : torch::nn::functional::linear(xl, wl, bl);
    return y.to(x.scalar_type());  // (B, out)
  }
  // Below ≈ 10⁵ multiply-adds oneDNN's fixed cost (≈ 60 µs) exceeds the BLAS time.
  const bool large = x.size(0) * x.size(1) * weight.size(0) >= (int64_t(1) << 17);
  if (!large || !dense_linear_uses_onednn(x) || weight.scalar_type() != torch::kFloat) {
    // Without a bias linear is mm, gemm with beta = 0, which OpenBLAS pays
    // for (util/blas_product.h); with one it is addmm (beta = 1) forward.
    if (!bias.defined()) return blas_mm(x, weight.t());  // (B, out)
    return torch::nn::functional::linear(x, weight, bias);  // (B, out)
  }
  // (B, in, 1, 1) ∗ (out, in, 1, 1) → (B, out, 1, 1): the same product on oneDNN.
  auto y = torch::conv2d(x.reshape({x.size(0), x.size(1), 1, 1}),
                         weight.reshape({weight.size(0), weight.size(1), 1, 1}), bias);
  return y.reshape({x.size(0), weight.size(0)});
}

}  // namespace sparseloop
