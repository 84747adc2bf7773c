#include "sparseloop/util/error.h"

#include <cmath>
#include <sstream>

namespace sparseloop {

std::vector<double> parse_number_list(const std::string& text, const std::string& flag) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size() || !std::isfinite(v)) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw InputError(flag + " '" + text + "': '" + item + "' is not a number");
    }
  }
  if (out.empty()) throw InputError(flag + ": expected a comma-separated list of numbers");
  return out;
}

}  // namespace sparseloop
