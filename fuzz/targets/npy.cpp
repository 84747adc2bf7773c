// .npy (io/npy): CIFAR-10-C's arrays and anything saved with numpy. Goes
// through a file: the reader seeks and reads row ranges itself.
#include "harness.h"
#include "sparseloop/io/npy.h"

extern "C" int sparseloop_fuzz_npy(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  const std::string path = fuzz::scratch_file("array.npy", fuzz::bytes_of(data, size));
  return fuzz::expect_input_error_only([&] {
    const NpyInfo info = inspect_npy(path);
    const torch::Tensor all = read_npy(path);
    if (!info.shape.empty() && info.shape[0] > 1) (void)read_npy_rows(path, 1, info.shape[0] - 1);
    (void)all.numel();
  });
}
