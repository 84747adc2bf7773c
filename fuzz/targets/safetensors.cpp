// safetensors (io/safetensors): weights handed over by strangers. Bytes in,
// as parse_safetensors sees a file's contents; every tensor read back whole.
#include "harness.h"
#include "sparseloop/io/safetensors.h"

extern "C" int sparseloop_fuzz_safetensors(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  return fuzz::expect_input_error_only([&] {
    const TensorFile f = parse_safetensors(fuzz::bytes_of(data, size), "fuzz.safetensors");
    for (const auto& [name, t] : f.tensors) {
      // Reads every byte the tensor claims (ASan sees one past the input).
      if (t.numel() > 0) (void)t.contiguous().view(torch::kByte).sum().item<int64_t>();
      (void)f.get(name);
    }
  });
}
