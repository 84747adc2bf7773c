#include "sparseloop/util/phase_transposed_conv.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <vector>

#include "sparseloop/util/simd.h"

namespace sparseloop {
namespace {

/// Floor division for a possibly negative numerator (positive divisor).
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// Columns of a phase-plane row computed together: one AVX-512 register of
/// floats, kept in registers across every code channel and tap.
constexpr int64_t kLanes = 16;

struct Geometry {
  int64_t C, Hz, Wz, M, k, s, p, H, W;
  int64_t Hp, Wp;  // a phase plane: output rows ph, ph + s, … (likewise columns)
  // The codes of one image copied into a zero border (C, Rz, Qz), so that a
  // tap's shifted rows are plain reads: plane (ph, pw) at (r, q) is
  //   Σ_c Σ_{taps of the phase} w[c, m, kh, kw] · z[c, r − dh, q − dw]
  // (oh = s·(i + dh) + ph), read at zpad[c, r − dh + top, q − dw + left].
  int64_t top, left, Rz, Qz;
  struct Tap {
    int64_t t;       // kh·k + kw
    int64_t offset;  // −dh·Qz − dw + top·Qz + left
  };
  std::vector<std::vector<Tap>> taps;  // per phase ph·s + pw
};

// Without multiply-add contraction, so that the AVX-512, AVX2 and baseline
// clones round alike (as the fused FISTA loops, proximal_gradient.cpp).
SPARSELOOP_NO_FP_CONTRACT_BEGIN

/// One image's output (M, H, W) from its codes (C, Hz, Wz); zpad: scratch of
/// C·Rz·Qz values.
template <typename T>
SPARSELOOP_ALWAYS_INLINE void phases_one_image(const T* z, const T* w, T* __restrict out,
                                               T* __restrict zpad, const Geometry& g) {
  const int64_t zplane = g.Rz * g.Qz;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.Hz; ++i)
      std::copy(z + (c * g.Hz + i) * g.Wz, z + (c * g.Hz + i + 1) * g.Wz,
                zpad + c * zplane + (i + g.top) * g.Qz + g.left);
  for (int64_t m = 0; m < g.M; ++m) {
    T* o = out + m * g.H * g.W;
    for (int64_t ph = 0; ph < g.s; ++ph) {
      for (int64_t pw = 0; pw < g.s; ++pw) {
        const auto& taps = g.taps[ph * g.s + pw];
        for (int64_t r = 0, oh = ph; oh < g.H; ++r, oh += g.s) {
          for (int64_t q0 = 0; q0 < g.Wp; q0 += kLanes) {
            T acc[kLanes] = {};
            for (int64_t c = 0; c < g.C; ++c) {
              const T* zc = zpad + c * zplane + r * g.Qz + q0;
              const T* wc = w + (c * g.M + m) * g.k * g.k;
              for (const auto& tap : taps) {
                const T a = wc[tap.t];
                const T* src = zc + tap.offset;
                for (int64_t l = 0; l < kLanes; ++l) acc[l] += a * src[l];
              }
            }
            // Plane column q is output column s·q + pw.
            T* orow = o + oh * g.W;
            const int64_t n = std::min(kLanes, g.Wp - q0);
            for (int64_t l = 0; l < n; ++l) {
              const int64_t ow = (q0 + l) * g.s + pw;
              if (ow < g.W) orow[ow] = acc[l];
            }
          }
        }
      }
    }
  }
}

SPARSELOOP_SIMD_CLONES void phases_f32(const float* z, const float* w, float* out, float* zpad,
                                       const Geometry& g) {
  phases_one_image(z, w, out, zpad, g);
}
SPARSELOOP_SIMD_CLONES void phases_f64(const double* z, const double* w, double* out,
                                       double* zpad, const Geometry& g) {
  phases_one_image(z, w, out, zpad, g);
}

SPARSELOOP_NO_FP_CONTRACT_END

void phases(const float* z, const float* w, float* out, float* zpad, const Geometry& g) {
  phases_f32(z, w, out, zpad, g);
}
void phases(const double* z, const double* w, double* out, double* zpad, const Geometry& g) {
  phases_f64(z, w, out, zpad, g);
}

}  // namespace

torch::Tensor transposed_conv_by_phases(const torch::Tensor& z0, const torch::Tensor& weight0,
                                        int64_t stride, int64_t padding, int64_t out_h,
                                        int64_t out_w) {
  TORCH_CHECK(z0.dim() == 4 && weight0.dim() == 4 && weight0.size(0) == z0.size(1) &&
                  weight0.size(2) == weight0.size(3),
              "transposed_conv_by_phases: expected z (B, C, Hz, Wz) and weight (C, M, k, k), got ",
              z0.sizes(), " and ", weight0.sizes());
  TORCH_CHECK(z0.device().is_cpu() && z0.scalar_type() == weight0.scalar_type() &&
                  (z0.scalar_type() == torch::kFloat || z0.scalar_type() == torch::kDouble),
              "transposed_conv_by_phases: float or double CPU tensors of one type");
  TORCH_CHECK(stride >= 1 && padding >= 0 && out_h >= 1 && out_w >= 1,
              "transposed_conv_by_phases: stride >= 1, padding >= 0, a non-empty output");
  // Seen by profilers and by bench's FLOP counter (bench/op_counter.cpp) as
  // the transposed convolution it is.
  RECORD_FUNCTION("sparseloop::transposed_conv", std::vector<c10::IValue>({z0, weight0}));
  const auto z = z0.contiguous();            // (B, C, Hz, Wz)
  const auto weight = weight0.contiguous();  // (C, M, k, k)
  Geometry g;
  g.C = z.size(1), g.Hz = z.size(2), g.Wz = z.size(3);
  g.M = weight.size(1), g.k = weight.size(2), g.s = stride, g.p = padding;
  g.H = out_h, g.W = out_w;
  g.Hp = (out_h + stride - 1) / stride, g.Wp = (out_w + stride - 1) / stride;
  // The taps' offsets d = (t − p − phase) / s span [lo, hi]: plane row r reads
  // code rows r − hi … r − lo, so the border is hi above and what r − lo
  // reaches past the codes below (columns likewise, plus whole register
  // widths: the last lanes read the border and are not stored).
  int64_t lo = 0, hi = 0;
  for (int64_t t = 0; t < g.k; ++t) {
    const int64_t ph = ((t - g.p) % g.s + g.s) % g.s, d = floor_div(t - g.p - ph, g.s);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  g.top = hi, g.left = hi;
  g.Rz = std::max(g.Hz + hi, g.Hp - lo) + hi;
  const int64_t width = (g.Wp + kLanes - 1) / kLanes * kLanes;
  g.Qz = std::max(g.Wz + hi, width - lo) + hi;
  g.taps.resize(g.s * g.s);
  for (int64_t kh = 0; kh < g.k; ++kh) {
    const int64_t ph = ((kh - g.p) % g.s + g.s) % g.s, dh = floor_div(kh - g.p - ph, g.s);
    for (int64_t kw = 0; kw < g.k; ++kw) {
      const int64_t pw = ((kw - g.p) % g.s + g.s) % g.s, dw = floor_div(kw - g.p - pw, g.s);
      g.taps[ph * g.s + pw].push_back({kh * g.k + kw, (g.top - dh) * g.Qz + g.left - dw});
    }
  }
  const int64_t B = z.size(0);
  auto out = torch::empty({B, g.M, out_h, out_w}, z.options());  // (B, M, H, W)
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "transposed_conv_by_phases", [&] {
    const scalar_t* zp = z.data_ptr<scalar_t>();
    const scalar_t* wp = weight.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      std::vector<scalar_t> zpad(g.C * g.Rz * g.Qz, scalar_t(0));  // borders stay zero
      for (int64_t b = b0; b < b1; ++b)
        phases(zp + b * g.C * g.Hz * g.Wz, wp, op + b * g.M * g.H * g.W, zpad.data(), g);
    });
  });
  return out;
}

}  // namespace sparseloop
