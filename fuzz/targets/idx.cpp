// IDX (data/mnist): MNIST-format image and label files as downloaded. The
// same bytes are read as an image file and as a label file.
#include "harness.h"
#include "sparseloop/data/mnist.h"

extern "C" int sparseloop_fuzz_idx(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  const std::string path = fuzz::scratch_file("train-images-idx3-ubyte", fuzz::bytes_of(data, size));
  fuzz::expect_input_error_only([&] { (void)read_idx_images(path); });
  return fuzz::expect_input_error_only([&] { (void)read_idx_labels(path); });
}
