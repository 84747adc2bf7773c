// CIFAR-10 / CIFAR-100 binary records (data/cifar). Every file the loaders
// open (data_batch_1..5.bin, test_batch.bin, train.bin, test.bin) is a
// link to the one input, so the whole loader runs on it.
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "sparseloop/data/cifar.h"

namespace {
const std::string& cifar_dir() {
  static const std::string dir = [] {
    const std::string d = sparseloop::fuzz::scratch_dir() + "/cifar";
    ::mkdir(d.c_str(), 0700);
    for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                             "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
                             "train.bin", "test.bin"})
      if (::symlink("../cifar.bin", (d + "/" + name).c_str()) != 0) std::abort();
    return d;
  }();
  return dir;
}
}  // namespace

extern "C" int sparseloop_fuzz_cifar(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  const std::string& dir = cifar_dir();
  fuzz::scratch_file("cifar.bin", fuzz::bytes_of(data, size));
  fuzz::expect_input_error_only([&] { (void)load_cifar10(dir); });
  fuzz::expect_input_error_only([&] { (void)load_cifar100(dir, true); });
  return fuzz::expect_input_error_only([&] { (void)load_cifar100(dir, false); });
}
