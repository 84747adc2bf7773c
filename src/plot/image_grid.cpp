#include "sparseloop/plot/image_grid.h"

#include <algorithm>
#include <cmath>

#include "sparseloop/plot/canvas.h"

namespace sparseloop {
namespace {

// A batch as CPU float in [0, 1] (uint8 scaled by 1/255).
torch::Tensor as_unit_float(const torch::Tensor& images) {
  auto x = images.detach().to(torch::kCPU);
  if (x.scalar_type() == torch::kByte) return x.to(torch::kFloat).div(255.0);
  TORCH_CHECK(x.is_floating_point(), "images must be uint8 or floating point, got ",
              x.scalar_type());
  return x.to(torch::kFloat);
}

}  // namespace

torch::Tensor normalize_images(const torch::Tensor& images, double lo, double hi) {
  TORCH_CHECK(hi > lo, "normalize_images: need hi > lo, got [", lo, ", ", hi, "]");
  return images.detach().to(torch::kFloat).sub(lo).div(hi - lo).clamp(0.0, 1.0);
}

torch::Tensor atom_grid(const torch::Tensor& atoms, int64_t nrow, int64_t min_size) {
  TORCH_CHECK(atoms.dim() == 4 && atoms.size(0) > 0, "atom_grid: atoms must be (n, C, H, W), got ",
              atoms.sizes());
  auto a = atoms.detach().to(torch::kCPU, torch::kFloat);
  auto flat = a.reshape({a.size(0), -1});                                 // (n, C·H·W)
  auto lo = std::get<0>(flat.min(1, true)), hi = std::get<0>(flat.max(1, true));
  a = ((flat - lo) / (hi - lo).clamp_min(1e-12)).reshape(a.sizes());     // (n, C, H, W) in [0, 1]
  const int64_t side = std::max(a.size(2), a.size(3));
  const int64_t zoom = std::max<int64_t>(1, (min_size + side - 1) / side);
  if (zoom > 1) a = a.repeat_interleave(zoom, 2).repeat_interleave(zoom, 3);  // (n, C, zH, zW)
  return make_grid(a, std::min(nrow, a.size(0)), 2, 1.0);
}

torch::Tensor make_grid(const torch::Tensor& images, int64_t nrow, int64_t padding,
                        double pad_value) {
  TORCH_CHECK(images.dim() == 4, "make_grid: images must be (B, C, H, W), got shape ",
              images.sizes());
  TORCH_CHECK(images.size(0) > 0, "make_grid: empty batch, shape ", images.sizes());
  TORCH_CHECK(nrow >= 1, "make_grid: nrow must be ≥ 1, got ", nrow);
  TORCH_CHECK(padding >= 0, "make_grid: padding must be ≥ 0, got ", padding);
  const auto x = as_unit_float(images);
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t xmaps = std::min(nrow, b);
  const int64_t ymaps = (b + xmaps - 1) / xmaps;
  auto grid = torch::full({c, ymaps * (h + padding) + padding, xmaps * (w + padding) + padding},
                          pad_value, torch::kFloat);
  for (int64_t k = 0; k < b; ++k) {
    const int64_t row = k / xmaps, col = k % xmaps;
    grid.narrow(1, row * (h + padding) + padding, h)
        .narrow(2, col * (w + padding) + padding, w)
        .copy_(x[k]);
  }
  return grid;
}

torch::Tensor image_grid_with_rows(const std::vector<torch::Tensor>& rows,
                                   const std::vector<std::string>& labels,
                                   const RowGridOptions& options) {
  TORCH_CHECK(!rows.empty(), "image_grid_with_rows: no rows");
  TORCH_CHECK(labels.empty() || labels.size() == rows.size(),
              "image_grid_with_rows: ", labels.size(), " labels for ", rows.size(), " rows");
  TORCH_CHECK(options.padding >= 0, "image_grid_with_rows: padding must be ≥ 0");
  TORCH_CHECK(options.upscale >= 0, "image_grid_with_rows: upscale must be ≥ 0");
  int64_t c = 0, h = 0, w = 0, columns = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    TORCH_CHECK(r.dim() == 4, "image_grid_with_rows: row ", i, " must be (B, C, H, W), got shape ",
                r.sizes());
    TORCH_CHECK(r.size(1) == 1 || r.size(1) == 3, "image_grid_with_rows: row ", i,
                " must have 1 or 3 channels, got shape ", r.sizes());
    if (i == 0) c = r.size(1), h = r.size(2), w = r.size(3);
    TORCH_CHECK(r.size(1) == c && r.size(2) == h && r.size(3) == w, "image_grid_with_rows: row ", i,
                " has shape ", r.sizes(), " but row 0 has images of (", c, ", ", h, ", ", w, ")");
    columns = std::max(columns, r.size(0));
  }
  TORCH_CHECK(columns > 0 && h > 0 && w > 0, "image_grid_with_rows: all rows are empty");

  // Small images (MNIST's 28 px) are enlarged so that digits and labels
  // have comparable sizes; nearest neighbour keeps the pixels honest.
  int scale = options.upscale;
  if (scale == 0)
    scale = static_cast<int>(std::clamp<int64_t>((56 + std::min(h, w) - 1) / std::min(h, w), 1, 4));
  const int64_t th = h * scale, tw = w * scale, pad = options.padding;

  const double gray = std::clamp(options.pad_value, 0.0, 1.0);
  const auto g8 = static_cast<uint8_t>(std::lround(gray * 255));
  TextStyle style;
  style.size = options.font_size;
  style.halign = HAlign::right;
  style.valign = VAlign::middle;
  style.color = gray > 0.5 ? colors::ink : colors::white;
  double label_w = 0;
  for (const auto& l : labels) label_w = std::max(label_w, Canvas::text_width(l, style.size));
  const int64_t gap = 10;
  const int64_t label_col = label_w > 0 ? static_cast<int64_t>(std::ceil(label_w)) + 2 * gap : 0;

  const int64_t width = label_col + columns * (tw + pad) + pad;
  const int64_t height = static_cast<int64_t>(rows.size()) * (th + pad) + pad;
  TORCH_CHECK(width <= 16384 && height <= 16384, "image_grid_with_rows: result of ", width, "x",
              height, " pixels is too large");
  Canvas canvas(static_cast<int>(width), static_cast<int>(height), Color(g8, g8, g8));
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto x = as_unit_float(rows[i]);
    const int64_t top = pad + static_cast<int64_t>(i) * (th + pad);
    for (int64_t k = 0; k < x.size(0); ++k) {
      const int64_t left = label_col + pad + k * (tw + pad);
      canvas.draw_image(static_cast<int>(left), static_cast<int>(top), x[k], scale);
    }
    if (!labels.empty() && !labels[i].empty())
      canvas.text({static_cast<double>(label_col - gap), top + th / 2.0}, labels[i], style);
  }
  auto out = canvas.to_tensor().to(torch::kFloat).div(255.0);
  return out;
}

}  // namespace sparseloop
