// A private scratch folder that is removed with everything in it when the
// owner goes out of scope, also when an exception unwinds past it.
#pragma once

#include <string>

namespace sparseloop {

class ScopedTempDir {
 public:
  /// Creates `$TMPDIR/<prefix>XXXXXX` (mode 0700).
  explicit ScopedTempDir(const std::string& prefix = "sparseloop-");
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace sparseloop
