// One libFuzzer binary per reader: SPARSELOOP_FUZZ_TARGET names the harness
// (fuzz/targets/<name>.cpp) this binary runs. Kept free of LibTorch headers
// so that each target costs a link, not a sanitized LibTorch compile.
#include <cstddef>
#include <cstdint>

#define SPARSELOOP_FUZZ_CAT2(a, b) a##b
#define SPARSELOOP_FUZZ_CAT(a, b) SPARSELOOP_FUZZ_CAT2(a, b)
#define SPARSELOOP_FUZZ_HARNESS SPARSELOOP_FUZZ_CAT(sparseloop_fuzz_, SPARSELOOP_FUZZ_TARGET)

extern "C" int SPARSELOOP_FUZZ_HARNESS(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return SPARSELOOP_FUZZ_HARNESS(data, size);
}
