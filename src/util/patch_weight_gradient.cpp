#include "sparseloop/util/patch_weight_gradient.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "sparseloop/util/simd.h"

namespace sparseloop {
namespace {

constexpr int64_t kPatchMaxTaps = 64;
/// Grayscale only: with three channels (RGB) oneDNN's own gradient runs at
/// 60–95 GFLOP/s and this kernel, bound by its gathers, at 33–70 (3→16 k3
/// 32² b128 10.5 against 5.5 ms; 3→64 k4 s2 b64 5.2 against 3.6; 3→64 k3
/// b32 4.9 against 5.5; the AVX2 EPYC, docs/performance.md).
constexpr int64_t kPatchMaxInputChannels = 1;
/// Images summed into one partial gradient before the blocks are added in
/// order: fixed, so that the rounding does not follow the thread count.
constexpr int64_t kPatchImagesPerBlock = 4;

/// Element strides of a (B, ·, H, W) tensor in any dense layout.
struct PatchStrides {
  int64_t n, c, h, w;
};

struct PatchGeometry {
  int64_t C, Ho, Wo;  // gradient channels and code map
  int64_t M, H, W;    // input channels and map
  int64_t k, s, p;
  int64_t taps;  // M·k², ordered (m, kh, kw) as the weight's (C, M, k, k)
  PatchStrides g, x;
};

SPARSELOOP_NO_FP_CONTRACT_BEGIN

/// 32 bytes of T as one GCC vector: written with vector types rather than
/// left to the auto-vectorizer, which vectorized the pixel loop here and
/// spent its time in shuffles (8 GFLOP/s). Each clone lowers it to its own
/// registers (two SSE halves in the baseline, one AVX2 register).
template <typename T>
struct PatchVec32 {
  typedef T type __attribute__((vector_size(32), aligned(4)));
};
template <typename T>
using PatchVec = typename PatchVec32<T>::type;
template <typename T>
constexpr int kPatchLanes = static_cast<int>(32 / sizeof(T));

/// The taps of code pixel (i, j) into patch (zero outside the image and
/// past the taps); `off` holds each tap's offset from the window's corner.
template <typename T, int NV>
SPARSELOOP_ALWAYS_INLINE void gather_patch(const T* x, int64_t i, int64_t j, const PatchGeometry& g,
                                        const int64_t* off, PatchVec<T> (&patch)[NV]) {
  T taps[NV * kPatchLanes<T>];
  const int64_t h0 = i * g.s - g.p, w0 = j * g.s - g.p;
  const bool inside = h0 >= 0 && w0 >= 0 && h0 + g.k <= g.H && w0 + g.k <= g.W;
  const T* corner = x + h0 * g.x.h + w0 * g.x.w;
  if (inside) {
    for (int64_t t = 0; t < g.taps; ++t) taps[t] = corner[off[t]];
  } else {
    int64_t t = 0;
    for (int64_t m = 0; m < g.M; ++m)
      for (int64_t kh = 0; kh < g.k; ++kh)
        for (int64_t kw = 0; kw < g.k; ++kw, ++t) {
          const int64_t h = h0 + kh, w = w0 + kw;
          taps[t] = h >= 0 && h < g.H && w >= 0 && w < g.W ? corner[off[t]] : T(0);
        }
  }
  for (int64_t t = g.taps; t < NV * kPatchLanes<T>; ++t) taps[t] = T(0);
  for (int v = 0; v < NV; ++v) std::memcpy(&patch[v], taps + v * kPatchLanes<T>, sizeof(PatchVec<T>));
}

/// acc[c][·] += Σ_jj grad[c, pixel jj] · patch[jj][·] for every gradient
/// channel c: the J patches stay in registers, each accumulator row is
/// loaded and stored once per J pixels.
template <typename T, int NV, int J>
SPARSELOOP_ALWAYS_INLINE void rank_j_update(const T* grad, const PatchVec<T> (&patch)[J][NV],
                                         const PatchGeometry& g, PatchVec<T>* __restrict acc) {
  for (int64_t c = 0; c < g.C; ++c) {
    PatchVec<T>* row = acc + c * NV;
    const T* gc = grad + c * g.g.c;
    PatchVec<T> sum[NV];
    for (int v = 0; v < NV; ++v) sum[v] = row[v];
    for (int jj = 0; jj < J; ++jj) {
      const T a = gc[jj * g.g.w];
      for (int v = 0; v < NV; ++v) sum[v] += a * patch[jj][v];
    }
    for (int v = 0; v < NV; ++v) row[v] = sum[v];
  }
}

/// One image's gradient into acc (C, NV vectors), which this zeroes first.
template <typename T, int NV, int J>
SPARSELOOP_ALWAYS_INLINE void patch_one_image(const T* grad, const T* x, const PatchGeometry& g,
                                     const int64_t* off, PatchVec<T>* acc) {
  for (int64_t e = 0; e < g.C * NV; ++e) acc[e] = PatchVec<T>{} ;
  for (int64_t i = 0; i < g.Ho; ++i) {
    const T* grow = grad + i * g.g.h;
    int64_t j = 0;
    for (; j + J <= g.Wo; j += J) {
      PatchVec<T> patch[J][NV];
      for (int jj = 0; jj < J; ++jj) gather_patch<T, NV>(x, i, j + jj, g, off, patch[jj]);
      rank_j_update<T, NV, J>(grow + j * g.g.w, patch, g, acc);
    }
    for (; j < g.Wo; ++j) {
      PatchVec<T> patch[1][NV];
      gather_patch<T, NV>(x, i, j, g, off, patch[0]);
      rank_j_update<T, NV, 1>(grow + j * g.g.w, patch, g, acc);
    }
  }
}

/// The packed width (the taps rounded up to 64 bytes' worth) picks the pixel
/// block: as many pixels as keep the patches in about 8 AVX2 registers.
template <typename T>
SPARSELOOP_ALWAYS_INLINE void patch_dispatch(const T* grad, const T* x, const PatchGeometry& g,
                                    const int64_t* off, T* acc, int64_t packed) {
  constexpr int L = kPatchLanes<T>;
  auto* a = reinterpret_cast<PatchVec<T>*>(acc);
  switch (packed / L) {
    case 1: patch_one_image<T, 1, 8>(grad, x, g, off, a); break;
    case 2: patch_one_image<T, 2, 4>(grad, x, g, off, a); break;
    case 3: patch_one_image<T, 3, 2>(grad, x, g, off, a); break;
    case 4: patch_one_image<T, 4, 2>(grad, x, g, off, a); break;
    case 5: patch_one_image<T, 5, 1>(grad, x, g, off, a); break;
    case 6: patch_one_image<T, 6, 1>(grad, x, g, off, a); break;
    case 7: patch_one_image<T, 7, 1>(grad, x, g, off, a); break;
    case 8: patch_one_image<T, 8, 1>(grad, x, g, off, a); break;
    default:
      // Doubles: up to 64 taps in 16 vectors of 4 (the gradient checks).
      if constexpr (sizeof(T) == 8) patch_one_image<T, 16, 1>(grad, x, g, off, a);
      break;
  }
}

SPARSELOOP_SIMD_CLONES void image_gradient_f32(const float* grad, const float* x,
                                               const PatchGeometry& g, const int64_t* off,
                                               float* acc, int64_t packed) {
  patch_dispatch(grad, x, g, off, acc, packed);
}
SPARSELOOP_SIMD_CLONES void image_gradient_f64(const double* grad, const double* x,
                                               const PatchGeometry& g, const int64_t* off,
                                               double* acc, int64_t packed) {
  patch_dispatch(grad, x, g, off, acc, packed);
}

SPARSELOOP_NO_FP_CONTRACT_END

void image_gradient(const float* grad, const float* x, const PatchGeometry& g,
                    const int64_t* off, float* acc, int64_t packed) {
  image_gradient_f32(grad, x, g, off, acc, packed);
}
void image_gradient(const double* grad, const double* x, const PatchGeometry& g,
                    const int64_t* off, double* acc, int64_t packed) {
  image_gradient_f64(grad, x, g, off, acc, packed);
}

PatchStrides patch_strides_of(const torch::Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

/// t itself when dense in its own layout, else a row-major copy.
torch::Tensor dense_in_own_layout(const torch::Tensor& t) {
  return t.is_non_overlapping_and_dense() ? t : t.contiguous();
}

}  // namespace

bool patch_weight_gradient_applies(const torch::Tensor& input, const torch::Tensor& weight) {
  return input.defined() && weight.defined() && input.dim() == 4 && weight.dim() == 4 &&
         input.device().is_cpu() && weight.device().is_cpu() &&
         input.scalar_type() == weight.scalar_type() &&
         (input.scalar_type() == torch::kFloat || input.scalar_type() == torch::kDouble) &&
         weight.size(2) == weight.size(3) && weight.size(1) <= kPatchMaxInputChannels &&
         weight.size(1) * weight.size(2) * weight.size(3) <= kPatchMaxTaps;
}

torch::Tensor weight_gradient_by_patches(const torch::Tensor& grad_output0,
                                         const torch::Tensor& input0, const torch::Tensor& weight,
                                         int64_t stride, int64_t padding) {
  TORCH_CHECK(weight.dim() == 4 && weight.size(2) == weight.size(3),
              "weight_gradient_by_patches: expected a square (C, M, k, k) weight, got ",
              weight.sizes());
  const int64_t kernel = weight.size(2);
  TORCH_CHECK(grad_output0.dim() == 4 && input0.dim() == 4 &&
                  grad_output0.size(0) == input0.size(0),
              "weight_gradient_by_patches: expected grad_output (B, C, Ho, Wo) and input (B, M, "
              "H, W), got ",
              grad_output0.sizes(), " and ", input0.sizes());
  TORCH_CHECK(grad_output0.device().is_cpu() && input0.device().is_cpu() &&
                  grad_output0.scalar_type() == input0.scalar_type() &&
                  (input0.scalar_type() == torch::kFloat || input0.scalar_type() == torch::kDouble),
              "weight_gradient_by_patches: float or double CPU tensors of one type");
  TORCH_CHECK(kernel >= 1 && stride >= 1 && padding >= 0 &&
                  input0.size(1) * kernel * kernel <= kPatchMaxTaps,
              "weight_gradient_by_patches: at most ", kPatchMaxTaps, " taps (M·k²)");
  TORCH_CHECK(weight.size(0) == grad_output0.size(1) && weight.size(1) == input0.size(1),
              "weight_gradient_by_patches: weight ", weight.sizes(), " does not map ",
              input0.size(1), " to ", grad_output0.size(1), " channels");
  // Seen by profilers and by bench's FLOP counter (bench/op_counter.cpp) as
  // the convolution weight gradient it is.
  RECORD_FUNCTION("sparseloop::conv_weight_gradient",
                  std::vector<c10::IValue>({grad_output0, input0, weight}));
  TORCH_CHECK((input0.size(2) + 2 * padding - kernel) / stride + 1 == grad_output0.size(2) &&
                  (input0.size(3) + 2 * padding - kernel) / stride + 1 == grad_output0.size(3),
              "weight_gradient_by_patches: a ", grad_output0.size(2), "x", grad_output0.size(3),
              " gradient does not come from a ", input0.size(2), "x", input0.size(3),
              " input (kernel ", kernel, ", stride ", stride, ", padding ", padding, ")");
  const auto grad = dense_in_own_layout(grad_output0);  // (B, C, Ho, Wo)
  const auto x = dense_in_own_layout(input0);           // (B, M, H, W)
  PatchGeometry g;
  g.C = grad.size(1), g.Ho = grad.size(2), g.Wo = grad.size(3);
  g.M = x.size(1), g.H = x.size(2), g.W = x.size(3);
  g.k = kernel, g.s = stride, g.p = padding;
  g.taps = g.M * g.k * g.k;
  g.g = patch_strides_of(grad);
  g.x = patch_strides_of(x);
  // Whole 32-byte vectors: 8 floats or 4 doubles.
  const int64_t lanes = 32 / x.element_size();
  int64_t packed = (g.taps + lanes - 1) / lanes * lanes;
  if (packed > 8 * lanes) packed = 16 * lanes;  // doubles past 32 taps: one width (dispatch)
  // Tap t = (m, kh, kw)'s offset from its window's corner in x.
  std::vector<int64_t> off;
  for (int64_t m = 0; m < g.M; ++m)
    for (int64_t kh = 0; kh < g.k; ++kh)
      for (int64_t kw = 0; kw < g.k; ++kw) off.push_back(m * g.x.c + kh * g.x.h + kw * g.x.w);
  const int64_t B = x.size(0);
  const int64_t blocks = (B + kPatchImagesPerBlock - 1) / kPatchImagesPerBlock;
  auto partial = torch::empty({blocks, g.C, packed}, x.options());  // (blocks, C, packed)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "weight_gradient_by_patches", [&] {
    const scalar_t* gp = grad.data_ptr<scalar_t>();
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* pp = partial.data_ptr<scalar_t>();
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      // 32-byte aligned: the kernel reads it as vectors.
      auto one_buffer = torch::empty({g.C * packed}, x.options());
      scalar_t* one = one_buffer.data_ptr<scalar_t>();
      for (int64_t blk = b0; blk < b1; ++blk) {
        scalar_t* sum = pp + blk * g.C * packed;
        std::fill(sum, sum + g.C * packed, scalar_t(0));
        for (int64_t n = blk * kPatchImagesPerBlock; n < std::min(B, (blk + 1) * kPatchImagesPerBlock); ++n) {
          image_gradient(gp + n * g.g.n, xp + n * g.x.n, g, off.data(), one, packed);
          for (int64_t e = 0; e < g.C * packed; ++e) sum[e] += one[e];
        }
      }
    });
  });
  // The blocks added in order (a fixed reduction), the taps back to (C, M, k, k).
  auto out = torch::empty({g.C, g.M, g.k, g.k}, x.options());  // (C, M, k, k)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "weight_gradient_by_patches_sum", [&] {
    const scalar_t* pp = partial.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t t = 0; t < g.taps; ++t) {
        scalar_t s = 0;
        for (int64_t blk = 0; blk < blocks; ++blk) s += pp[(blk * g.C + c) * packed + t];
        op[c * g.taps + t] = s;
      }
  });
  return out;
}

}  // namespace sparseloop
