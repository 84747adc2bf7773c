#include "sparseloop/io/png.h"

#include <stb/stb_image_write.h>

#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace {

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                             static_cast<size_t>(size));
}

}  // namespace

torch::Tensor to_uint8_image(const torch::Tensor& image) {
  TORCH_CHECK(image.defined(), "to_uint8_image: undefined tensor");
  TORCH_CHECK(image.dim() == 2 || image.dim() == 3, "image must be (C, H, W) or (H, W), got shape ",
              image.sizes());
  auto img = image.dim() == 2 ? image.unsqueeze(0) : image;
  const int64_t c = img.size(0);
  TORCH_CHECK(c == 1 || c == 3 || c == 4, "image must have 1, 3 or 4 channels, got shape ",
              image.sizes());
  TORCH_CHECK(img.size(1) > 0 && img.size(2) > 0, "image is empty: shape ", image.sizes());
  TORCH_CHECK(img.size(1) <= 65535 && img.size(2) <= 65535, "image too large for PNG: shape ",
              image.sizes());
  img = img.detach().to(torch::kCPU);
  if (img.scalar_type() == torch::kByte) return img.contiguous();
  TORCH_CHECK(img.is_floating_point(), "image must be uint8 or floating point, got ",
              img.scalar_type());
  return torch::nan_to_num(img.to(torch::kFloat), 0.0, 1.0, 0.0)
      .clamp(0.0, 1.0)
      .mul(255.0)
      .round()
      .to(torch::kByte)
      .contiguous();
}

std::string encode_png_pixels(const uint8_t* pixels, int width, int height, int channels) {
  TORCH_CHECK(width > 0 && height > 0, "encode_png_pixels: empty image ", width, "x", height);
  TORCH_CHECK(channels == 1 || channels == 3 || channels == 4,
              "encode_png_pixels: channels must be 1, 3 or 4, got ", channels);
  std::string out;
  const int ok =
      stbi_write_png_to_func(append_bytes, &out, width, height, channels, pixels, width * channels);
  TORCH_CHECK(ok != 0 && !out.empty(), "PNG encoding failed (out of memory?)");
  return out;
}

std::string encode_png(const torch::Tensor& image) {
  // stb wants interleaved pixels: (C, H, W) → (H, W, C).
  auto hwc = to_uint8_image(image).permute({1, 2, 0}).contiguous();
  return encode_png_pixels(hwc.data_ptr<uint8_t>(), static_cast<int>(hwc.size(1)),
                           static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(2)));
}

void write_png(const std::string& path, const torch::Tensor& image) {
  write_file_atomic(path, encode_png(image));
}

}  // namespace sparseloop
