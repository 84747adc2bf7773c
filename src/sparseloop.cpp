// The only file that sees every family: the engine finds them through the
// registry filled here, so no layer below includes a family.
#include "sparseloop/sparseloop.h"

#include "sparseloop/families/ctrl/family.h"
#include "sparseloop/families/sdnet/family.h"
#include "sparseloop/families/vdl/family.h"

namespace sparseloop {

void register_builtin_families() {
  register_family(ctrl_family());
  register_family(sdnet_family());
  register_family(vdl_family());
}

}  // namespace sparseloop
