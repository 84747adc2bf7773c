#pragma once
// Prefix and suffix tests on std::string: C++20's starts_with/ends_with,
// which the project's C++17 lacks.

#include <string>

namespace sparseloop {

inline bool starts_with(const std::string& s, const std::string& head) {
  return s.size() >= head.size() && s.compare(0, head.size(), head) == 0;
}

inline bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace sparseloop
