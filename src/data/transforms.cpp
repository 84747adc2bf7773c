#include "sparseloop/data/transforms.h"

namespace sparseloop {
namespace {
namespace F = torch::nn::functional;

void check_batch(const torch::Tensor& x, const char* what) {
  TORCH_CHECK(x.defined() && x.dim() == 4, what, ": expected images (B, C, H, W), got ",
              x.defined() ? x.sizes() : c10::IntArrayRef{});
}

// Per-channel statistics as a (1, C, 1, 1) tensor; one value broadcasts.
torch::Tensor channel_tensor(const std::vector<double>& v, const torch::Tensor& x,
                             const char* what) {
  TORCH_CHECK(v.size() == 1 || static_cast<int64_t>(v.size()) == x.size(1), what, ": ", v.size(),
              " values for ", x.size(1), " channels");
  return torch::tensor(v, torch::kDouble)
      .to(x.options())
      .reshape({1, static_cast<int64_t>(v.size()), 1, 1});
}

}  // namespace

torch::Tensor pad_images(const torch::Tensor& x, int64_t p, double value) {
  check_batch(x, "pad_images");
  TORCH_CHECK(p >= 0, "pad_images: padding must be >= 0, got ", p);
  if (p == 0) return x;
  return torch::constant_pad_nd(x, {p, p, p, p}, value);
}

torch::Tensor resize_images(const torch::Tensor& x, int64_t h, int64_t w) {
  check_batch(x, "resize_images");
  TORCH_CHECK(x.is_floating_point(), "resize_images: expected floating-point images, got ",
              x.scalar_type(), " (use resize_images_u8)");
  TORCH_CHECK(h >= 1 && w >= 1, "resize_images: target size must be positive, got ", h, "x", w);
  if (x.size(2) == h && x.size(3) == w) return x;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{h, w})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

torch::Tensor resize_images_u8(const torch::Tensor& x_u8, int64_t h, int64_t w, int64_t chunk) {
  check_batch(x_u8, "resize_images_u8");
  TORCH_CHECK(x_u8.scalar_type() == torch::kUInt8, "resize_images_u8: expected uint8, got ",
              x_u8.scalar_type());
  TORCH_CHECK(chunk >= 1, "resize_images_u8: chunk must be >= 1");
  if (x_u8.size(2) == h && x_u8.size(3) == w) return x_u8;
  const int64_t n = x_u8.size(0);
  auto out = torch::empty({n, x_u8.size(1), h, w}, torch::kUInt8);
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t len = std::min(chunk, n - s);
    auto y = resize_images(x_u8.narrow(0, s, len).to(torch::kFloat), h, w);
    out.narrow(0, s, len).copy_(y.round_().clamp_(0, 255).to(torch::kUInt8));
  }
  return out;
}

torch::Tensor center_crop(const torch::Tensor& x, int64_t h, int64_t w) {
  check_batch(x, "center_crop");
  TORCH_CHECK(h >= 1 && w >= 1 && h <= x.size(2) && w <= x.size(3), "center_crop: cannot crop ",
              x.size(2), "x", x.size(3), " images to ", h, "x", w);
  const int64_t top = (x.size(2) - h) / 2, left = (x.size(3) - w) / 2;
  return x.narrow(2, top, h).narrow(3, left, w);
}

torch::Tensor random_crop(const torch::Tensor& x, int64_t pad, torch::Generator& gen) {
  check_batch(x, "random_crop");
  TORCH_CHECK(pad >= 0, "random_crop: padding must be >= 0, got ", pad);
  if (pad == 0 || x.size(0) == 0) return x;
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  auto padded = pad_images(x, pad);
  // Offsets in [0, 2·pad] per sample; drawn on the CPU generator so that the
  // same generator state gives the same crops on every device.
  auto offsets = torch::randint(0, 2 * pad + 1, {b, 2}, gen, torch::kLong).contiguous();
  const int64_t* off = offsets.data_ptr<int64_t>();
  auto out = torch::empty_like(x);
  for (int64_t i = 0; i < b; ++i)
    out[i].copy_(padded[i].narrow(1, off[2 * i], h).narrow(2, off[2 * i + 1], w));
  return out;
}

torch::Tensor random_hflip(const torch::Tensor& x, torch::Generator& gen) {
  check_batch(x, "random_hflip");
  auto flip = torch::rand({x.size(0)}, gen, torch::kFloat) < 0.5;
  return torch::where(flip.to(x.device()).view({-1, 1, 1, 1}), x.flip({3}), x);
}

torch::Tensor random_dihedral(const torch::Tensor& x, torch::Generator& gen) {
  check_batch(x, "random_dihedral");
  TORCH_CHECK(x.size(2) == x.size(3), "random_dihedral: expected square images, got ", x.size(2),
              "x", x.size(3));
  // Element k of the group: transpose if bit 2, then vertical flip if bit 1,
  // horizontal if bit 0 (transpose ∘ flips spans all 8).
  auto k = torch::randint(0, 8, {x.size(0)}, gen, torch::kLong).contiguous();
  const int64_t* kk = k.data_ptr<int64_t>();
  auto out = torch::empty_like(x);
  for (int64_t i = 0; i < x.size(0); ++i) {
    auto s = x[i];                             // (C, S, S)
    if (kk[i] & 4) s = s.transpose(1, 2);      // (C, S, S), rows ↔ columns
    if (kk[i] & 2) s = s.flip({1});
    if (kk[i] & 1) s = s.flip({2});
    out[i].copy_(s);
  }
  return out;
}

torch::Tensor random_channel_permutation(const torch::Tensor& x, torch::Generator& gen) {
  check_batch(x, "random_channel_permutation");
  const int64_t c = x.size(1);
  TORCH_CHECK(c <= 4, "random_channel_permutation: at most 4 channels, got ", c);
  if (c == 1) return x;
  // One random key per (sample, channel); sorting the keys gives a uniform
  // permutation of each sample's channels.
  auto order = torch::rand({x.size(0), c}, gen, torch::kFloat).argsort(/*dim=*/int64_t{1});  // (B, C)
  order = order.to(x.device()).view({x.size(0), c, 1, 1}).expand(x.sizes());  // (B, C, H, W)
  return x.gather(1, order);
}

torch::Tensor normalize_channels(const torch::Tensor& x, const std::vector<double>& mean,
                                 const std::vector<double>& std) {
  check_batch(x, "normalize_channels");
  TORCH_CHECK(x.is_floating_point(), "normalize_channels: expected floating-point images");
  for (double s : std) TORCH_CHECK(s > 0, "normalize_channels: std must be > 0, got ", s);
  return (x - channel_tensor(mean, x, "normalize_channels mean")) /
         channel_tensor(std, x, "normalize_channels std");
}

torch::Tensor denormalize_channels(const torch::Tensor& x, const std::vector<double>& mean,
                                   const std::vector<double>& std) {
  check_batch(x, "denormalize_channels");
  TORCH_CHECK(x.is_floating_point(), "denormalize_channels: expected floating-point images");
  return x * channel_tensor(std, x, "denormalize_channels std") +
         channel_tensor(mean, x, "denormalize_channels mean");
}

torch::Tensor to_signed(const torch::Tensor& x01) { return x01 * 2 - 1; }

torch::Tensor to_unit(const torch::Tensor& xpm1) { return (xpm1 + 1) * 0.5; }

}  // namespace sparseloop
