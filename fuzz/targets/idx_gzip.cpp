// IDX .gz (data/mnist through util/gzip): the gzip'd files most mirrors
// serve. The seeds are gzip streams, so mutations hit zlib's framing, the
// multi-member loop and the size checks after decompression.
#include "harness.h"
#include "sparseloop/data/mnist.h"

extern "C" int sparseloop_fuzz_idx_gzip(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  const std::string path =
      fuzz::scratch_file("train-images-idx3-ubyte.gz", fuzz::bytes_of(data, size));
  fuzz::expect_input_error_only([&] { (void)read_idx_images(path); });
  return fuzz::expect_input_error_only([&] { (void)read_idx_labels(path); });
}
