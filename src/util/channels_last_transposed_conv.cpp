#include "sparseloop/util/channels_last_transposed_conv.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <vector>

#include "sparseloop/util/simd.h"

namespace sparseloop {
namespace {

struct ClGeometry {
  int64_t C, Hz, Wz, M, k, s, p, H, W;
  int64_t taps;  // M·k²: one code pixel's contributions, ordered (kh, kw, m)
};

// Without multiply-add contraction, so that the AVX-512, AVX2 and baseline
// clones round alike (as the phase planes, util/phase_transposed_conv.cpp).
SPARSELOOP_NO_FP_CONTRACT_BEGIN

/// acc[j][·] = Σ_c z[j, c] · wp[c, ·] for J consecutive code pixels of one
/// row (NHWC: a pixel's C values are contiguous), TP packed taps wide: the
/// J·TP accumulators stay in registers (TP/8 AVX2 or TP/16 AVX-512 vectors
/// a pixel) while each packed weight row is loaded once for the J pixels.
template <typename T, int TP, int J>
SPARSELOOP_ALWAYS_INLINE void cl_pixel_taps(const T* z, const T* wp, int64_t C, T (&acc)[J][TP]) {
  for (int j = 0; j < J; ++j)
    for (int t = 0; t < TP; ++t) acc[j][t] = T(0);
  for (int64_t c = 0; c < C; ++c) {
    const T* wr = wp + c * TP;
    for (int j = 0; j < J; ++j) {
      const T a = z[j * C + c];
      for (int t = 0; t < TP; ++t) acc[j][t] += a * wr[t];
    }
  }
}

/// Adds code pixel (i, j)'s contributions into the image's output (H, W, M):
/// tap (kh, kw) lands on (i·s + kh − p, j·s + kw − p) when inside. A kernel
/// row's k taps land on k neighbouring output pixels, whose k·M values are
/// contiguous in NHWC as in the taps: away from the left and right edges a
/// kernel row is one vectorized add instead of k·M scalar ones, which alone
/// made the kernel 1.1–1.4× faster with 16–64 code channels
/// (docs/performance.md, "RGB synthesis: kernel rows as one add"). The order of the sums, hence
/// the bits, is unchanged.
template <typename T>
SPARSELOOP_ALWAYS_INLINE void cl_scatter(const T* taps, int64_t i, int64_t j, T* __restrict out,
                                      const ClGeometry& g) {
  const int64_t ow0 = j * g.s - g.p;                     // the kernel's first output column
  const bool inside_w = ow0 >= 0 && ow0 + g.k <= g.W;
  const int64_t row = g.k * g.M;                         // a kernel row's taps, (kw, m)
  for (int64_t kh = 0; kh < g.k; ++kh) {
    const int64_t oh = i * g.s + kh - g.p;
    if (oh < 0 || oh >= g.H) continue;
    const T* src = taps + kh * row;
    if (inside_w) {
      T* o = out + (oh * g.W + ow0) * g.M;
      for (int64_t t = 0; t < row; ++t) o[t] += src[t];
      continue;
    }
    for (int64_t kw = 0; kw < g.k; ++kw) {
      const int64_t ow = ow0 + kw;
      if (ow < 0 || ow >= g.W) continue;
      T* o = out + (oh * g.W + ow) * g.M;
      for (int64_t m = 0; m < g.M; ++m) o[m] += src[kw * g.M + m];
    }
  }
}

/// One image: z (Hz, Wz, C) into out (H, W, M), which this zeroes first.
template <typename T, int TP, int J>
SPARSELOOP_ALWAYS_INLINE void cl_one_image(const T* z, const T* wp, T* __restrict out,
                                        const ClGeometry& g) {
  std::fill(out, out + g.H * g.W * g.M, T(0));
  for (int64_t i = 0; i < g.Hz; ++i) {
    const T* zrow = z + i * g.Wz * g.C;
    int64_t j = 0;
    for (; j + J <= g.Wz; j += J) {
      T acc[J][TP];
      cl_pixel_taps<T, TP, J>(zrow + j * g.C, wp, g.C, acc);
      for (int q = 0; q < J; ++q) cl_scatter(acc[q], i, j + q, out, g);
    }
    for (; j < g.Wz; ++j) {
      T acc[1][TP];
      cl_pixel_taps<T, TP, 1>(zrow + j * g.C, wp, g.C, acc);
      cl_scatter(acc[0], i, j, out, g);
    }
  }
}

/// The packed width (the taps rounded up to 16) picks the block: as many
/// pixels as keep 8–12 AVX2 registers of accumulators (48 taps: two pixels,
/// 0.70–0.87 against 0.88–0.90 ms for one at 32→3 k4 s2 b64; 32 taps: three,
/// 2.59–2.69 against 2.85–2.93 ms for two at 16→3 k3 b128; 64 taps stay at
/// one, since two would take all 16; 16 taps at four: eight took 1.9× as long).
template <typename T>
SPARSELOOP_ALWAYS_INLINE void cl_dispatch(const T* z, const T* wp, T* out, const ClGeometry& g,
                                       int64_t packed) {
  switch (packed) {
    case 16: cl_one_image<T, 16, 4>(z, wp, out, g); break;
    case 32: cl_one_image<T, 32, 3>(z, wp, out, g); break;
    case 48: cl_one_image<T, 48, 2>(z, wp, out, g); break;
    default: cl_one_image<T, 64, 1>(z, wp, out, g); break;
  }
}

SPARSELOOP_SIMD_CLONES void cl_image_f32(const float* z, const float* wp, float* out,
                                      const ClGeometry& g, int64_t packed) {
  cl_dispatch(z, wp, out, g, packed);
}
SPARSELOOP_SIMD_CLONES void cl_image_f64(const double* z, const double* wp, double* out,
                                      const ClGeometry& g, int64_t packed) {
  cl_dispatch(z, wp, out, g, packed);
}

SPARSELOOP_NO_FP_CONTRACT_END

void cl_image(const float* z, const float* wp, float* out, const ClGeometry& g, int64_t packed) {
  cl_image_f32(z, wp, out, g, packed);
}
void cl_image(const double* z, const double* wp, double* out, const ClGeometry& g, int64_t packed) {
  cl_image_f64(z, wp, out, g, packed);
}

constexpr int64_t kClMaxTaps = 64;
/// Wider signals vectorize along their own channels in oneDNN, which then
/// wins: SDNet's 1×1 shortcut dictionaries (16–64 signal channels, ≤ 64
/// taps) stay with it.
constexpr int64_t kClMaxSignalChannels = 4;

}  // namespace

bool channels_last_transposed_conv_takes(const torch::Tensor& weight) {
  return weight.defined() && weight.dim() == 4 && weight.device().is_cpu() &&
         (weight.scalar_type() == torch::kFloat || weight.scalar_type() == torch::kDouble) &&
         weight.size(1) <= kClMaxSignalChannels &&
         weight.size(1) * weight.size(2) * weight.size(3) <= kClMaxTaps;
}

bool channels_last_transposed_conv_applies(const torch::Tensor& z, const torch::Tensor& weight) {
  return channels_last_transposed_conv_takes(weight) && z.defined() && z.dim() == 4 &&
         z.device().is_cpu() && z.scalar_type() == weight.scalar_type() && z.size(1) > 1 &&
         z.is_contiguous(at::MemoryFormat::ChannelsLast) && !z.is_contiguous();
}

torch::Tensor transposed_conv_channels_last(const torch::Tensor& z0, const torch::Tensor& weight,
                                            int64_t stride, int64_t padding, int64_t out_h,
                                            int64_t out_w) {
  TORCH_CHECK(z0.dim() == 4 && weight.dim() == 4 && weight.size(0) == z0.size(1) &&
                  weight.size(2) == weight.size(3),
              "transposed_conv_channels_last: expected z (B, C, Hz, Wz) and weight (C, M, k, k), "
              "got ", z0.sizes(), " and ", weight.sizes());
  TORCH_CHECK(z0.device().is_cpu() && z0.scalar_type() == weight.scalar_type() &&
                  (z0.scalar_type() == torch::kFloat || z0.scalar_type() == torch::kDouble),
              "transposed_conv_channels_last: float or double CPU tensors of one type");
  TORCH_CHECK(weight.size(1) * weight.size(2) * weight.size(3) <= kClMaxTaps,
              "transposed_conv_channels_last: at most ", kClMaxTaps, " taps (M·k²), got ",
              weight.sizes());
  TORCH_CHECK(stride >= 1 && padding >= 0 && out_h >= 1 && out_w >= 1,
              "transposed_conv_channels_last: stride >= 1, padding >= 0, a non-empty output");
  // Seen by profilers and by bench's FLOP counter (bench/op_counter.cpp) as
  // the transposed convolution it is.
  RECORD_FUNCTION("sparseloop::transposed_conv", std::vector<c10::IValue>({z0, weight}));
  const auto cl = at::MemoryFormat::ChannelsLast;
  const auto z = z0.contiguous(cl);  // (B, C, Hz, Wz), memory (B, Hz, Wz, C)
  ClGeometry g;
  g.C = z.size(1), g.Hz = z.size(2), g.Wz = z.size(3);
  g.M = weight.size(1), g.k = weight.size(2), g.s = stride, g.p = padding;
  g.H = out_h, g.W = out_w;
  g.taps = g.M * g.k * g.k;
  const int64_t packed = (g.taps + 15) / 16 * 16;
  // wp[c, (kh·k + kw)·M + m] = weight[c, m, kh, kw], zero past the taps: a
  // tap's M values land contiguously on one NHWC output pixel.
  auto wp = torch::zeros({g.C, packed}, weight.options());            // (C, packed)
  wp.narrow(1, 0, g.taps)
      .view({g.C, g.k, g.k, g.M})
      .copy_(weight.permute({0, 2, 3, 1}));                           // (C, k, k, M)
  const int64_t B = z.size(0);
  auto out = torch::empty({B, g.M, out_h, out_w}, z.options().memory_format(cl));  // (B, M, H, W)
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "transposed_conv_channels_last", [&] {
    const scalar_t* zp = z.data_ptr<scalar_t>();
    const scalar_t* wpp = wp.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    // Images apart: rows of one image overlap in the output when k > s.
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        cl_image(zp + b * g.Hz * g.Wz * g.C, wpp, op + b * g.H * g.W * g.M, g, packed);
    });
  });
  return out;
}

}  // namespace sparseloop
