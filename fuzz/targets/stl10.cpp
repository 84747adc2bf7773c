// STL-10 binary files (data/stl10). The input's first byte L splits it: the
// next L bytes are the label files (train_y.bin, test_y.bin), the rest the
// image files (train_X.bin, test_X.bin, unlabeled_X.bin).
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "sparseloop/data/stl10.h"

namespace {
const std::string& stl10_dir() {
  static const std::string dir = [] {
    const std::string d = sparseloop::fuzz::scratch_dir() + "/stl10";
    ::mkdir(d.c_str(), 0700);
    for (const char* name : {"train_X.bin", "test_X.bin", "unlabeled_X.bin"})
      if (::symlink("../stl10_X.bin", (d + "/" + name).c_str()) != 0) std::abort();
    for (const char* name : {"train_y.bin", "test_y.bin"})
      if (::symlink("../stl10_y.bin", (d + "/" + name).c_str()) != 0) std::abort();
    return d;
  }();
  return dir;
}
}  // namespace

extern "C" int sparseloop_fuzz_stl10(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  if (size == 0) return 0;
  const std::string& dir = stl10_dir();
  const size_t labels = std::min<size_t>(data[0], size - 1);
  fuzz::scratch_file("stl10_y.bin", fuzz::bytes_of(data + 1, labels));
  fuzz::scratch_file("stl10_X.bin", fuzz::bytes_of(data + 1 + labels, size - 1 - labels));
  // Resize 8 runs the same parsing plus a bilinear resize (data/transforms),
  // not a reader; load_stl10_unlabeled parses as load_stl10 does. Left out,
  // they halved the executions a second for no new parsing code.
  fuzz::expect_input_error_only([&] { (void)load_stl10(dir, 0); });
  return fuzz::expect_input_error_only([&] { (void)count_stl10_unlabeled(dir); });
}
