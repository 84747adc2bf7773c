// TOML config (engine/config): `--config FILE` and a run's config.toml on
// --resume. Parsed, flattened, then assigned to the flags every run has
// (strings, integers, unsigned, floating point, booleans).
#include "harness.h"
#include "sparseloop/engine/config.h"

extern "C" int sparseloop_fuzz_toml_config(const uint8_t* data, size_t size) {
  using namespace sparseloop;
  const std::string path = fuzz::scratch_file("config.toml", fuzz::bytes_of(data, size));
  return fuzz::expect_input_error_only([&] {
    ValuesReader r(read_config_file(path), path);
    CommonTrainConfig common;
    common.visit(r);
    (void)r.unused();
  });
}
