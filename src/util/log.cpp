#include "sparseloop/util/log.h"

#include <iostream>

namespace sparseloop {

void say(const std::string& line) { std::cerr << line << std::endl; }

}  // namespace sparseloop
