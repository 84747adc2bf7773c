// A checkpoint's state.json (engine/checkpoint): read on every --resume,
// from a folder a crash, a full disk or a person may have damaged.
#include "harness.h"
#include "sparseloop/engine/checkpoint.h"

extern "C" int sparseloop_fuzz_state_json(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  return fuzz::expect_input_error_only(
      [&] { (void)parse_train_state(fuzz::bytes_of(data, size), "step-00000010/state.json"); });
}
