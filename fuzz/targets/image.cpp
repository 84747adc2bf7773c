// Image decode (data/image_folder through stb_image): PNG, JPEG, BMP, … of an
// image folder, read as grey and as RGB.
#include "harness.h"
#include "sparseloop/data/image_folder.h"

extern "C" int sparseloop_fuzz_image(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  const std::string path = fuzz::scratch_file("image", fuzz::bytes_of(data, size));
  fuzz::expect_input_error_only([&] { (void)read_image(path, 1); });
  return fuzz::expect_input_error_only([&] { (void)read_image(path, 3); });
}
