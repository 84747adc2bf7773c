// The folder of a test suite that runs `sparseloop train` on digits.
#pragma once

#include <cstdlib>

#include "support/data_files.h"
#include "support/testing.h"

namespace sparseloop::test_data {

/// A new folder with 96 + 24 textured bar digits in digits/ and the data
/// root at cache/ (where CSC-CTRL caches its judge), exported as
/// SPARSELOOP_DATA. The caller owns it (a suite's SetUpTestSuite).
inline ts::TempDir* digits_suite_folder() {
  auto* dir = new ts::TempDir();
  write_bar_digits(dir->file("digits"), 96, 24, /*textured=*/true);
  setenv("SPARSELOOP_DATA", dir->file("cache").c_str(), 1);
  return dir;
}

}  // namespace sparseloop::test_data
