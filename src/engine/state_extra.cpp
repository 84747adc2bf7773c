#include "sparseloop/engine/state_extra.h"

#include <cmath>
#include <cstdint>

#include "sparseloop/util/error.h"

namespace sparseloop {
namespace {

[[noreturn]] void damaged(const nlohmann::json& v, const std::string& key, const char* expected,
                          const std::string& source) {
  throw InputError(source + ": damaged ('extra." + key + "' is " + v.dump().substr(0, 40) +
                   ", expected " + expected + ")");
}

}  // namespace

void check_extra_integer(const nlohmann::json& extra, const std::string& key, int64_t min,
                         const std::string& source) {
  if (!extra.is_object() || !extra.contains(key)) return;
  const auto& v = extra[key];
  const bool ok = v.is_number_integer() &&
                  !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) &&
                  v.get<int64_t>() >= min;
  if (!ok)
    damaged(v, key, ("an integer >= " + std::to_string(min)).c_str(), source);
}

void check_extra_number(const nlohmann::json& extra, const std::string& key,
                        const std::string& source) {
  if (!extra.is_object() || !extra.contains(key)) return;
  const auto& v = extra[key];
  if (!v.is_number() || !std::isfinite(v.get<double>())) damaged(v, key, "a number", source);
}

void check_extra_object(const nlohmann::json& extra, const std::string& key,
                        const std::string& source) {
  if (!extra.is_object() || !extra.contains(key)) return;
  const auto& v = extra[key];
  if (!v.is_object()) damaged(v, key, "an object", source);
}

}  // namespace sparseloop
