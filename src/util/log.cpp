#include "sparseloop/util/log.h"

#include <iostream>

#include "sparseloop/util/distributed.h"

namespace sparseloop {

void say(const std::string& line) {
  if (world().root()) std::cerr << line << std::endl;  // one voice for N ranks
}

}  // namespace sparseloop
