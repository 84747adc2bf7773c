#include "sparseloop/util/precision.h"

#include <atomic>
#include <fstream>

#include "sparseloop/util/conv2d_bf16.h"
#include "sparseloop/util/blas_product.h"
#include "sparseloop/util/error.h"

namespace sparseloop {
namespace {

std::atomic<Precision> g_precision{Precision::kFp32};

}  // namespace

const char* to_string(Precision p) { return p == Precision::kBf16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& s, const std::string& flag) {
  if (s == "fp32") return Precision::kFp32;
  if (s == "bf16") return Precision::kBf16;
  throw InputError(flag + " '" + s + "': use fp32 (default) or bf16");
}

Precision compute_precision() { return g_precision.load(std::memory_order_relaxed); }

void set_compute_precision(Precision p) { g_precision.store(p, std::memory_order_relaxed); }

bool lowers(const torch::Tensor& t) {
  return compute_precision() == Precision::kBf16 && t.defined() &&
         t.scalar_type() == torch::kFloat;
}

torch::Tensor lowered(const torch::Tensor& t) { return lowers(t) ? t.to(torch::kBFloat16) : t; }

torch::Tensor conv2d_in_precision(const torch::Tensor& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias, int64_t stride, int64_t padding) {
  if (!lowers(x)) return conv2d_plain(x, weight, bias, stride, padding);
  return conv2d_bf16(lowered(x), lowered(weight), lowered(bias), stride, padding)
      .to(x.scalar_type());  // (B, out, Ho, Wo)
}

bool cpu_has_native_bf16() {
  static const bool native = [] {
    std::ifstream info("/proc/cpuinfo");
    std::string line;
    while (std::getline(info, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      // Whole words: " avx512_bf16 " or " amx_bf16 ".
      line += ' ';
      return line.find(" avx512_bf16 ") != std::string::npos ||
             line.find(" amx_bf16 ") != std::string::npos;
    }
    return false;
  }();
  return native;
}

bool cpu_has_avx512() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return avx512;
#else
  return false;
#endif
}

bool emulates_bf16(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kBFloat16 &&
         !cpu_has_native_bf16();
}

torch::Tensor widened(const torch::Tensor& t) {
  return t.defined() && t.scalar_type() == torch::kBFloat16 ? t.to(torch::kFloat) : t;
}

torch::Tensor matmul_bf16(const torch::Tensor& a, const torch::Tensor& b) {
  // Widened, the product takes the fp32 route below (blas_mm for matrices).
  if (emulates_bf16(a)) return matmul_bf16(widened(a), widened(b)).to(torch::kBFloat16);
  if (a.dim() == 2 && b.dim() == 2) return blas_mm(a, b);  // (n, m)
  return torch::matmul(a, b);
}

}  // namespace sparseloop
