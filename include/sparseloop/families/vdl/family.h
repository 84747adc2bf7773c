// The VDL family as the engine sees it (engine/family.h): models sdl, vdl,
// sdl-nl, vdl-nl.
#pragma once

#include "sparseloop/engine/family.h"

namespace sparseloop {

Family vdl_family();

}  // namespace sparseloop
