// The CSC-CTRL family as the engine sees it (engine/family.h): models
// csc-ctrl and ctrl, presets, flags, trainer and analyses.
#pragma once

#include "sparseloop/engine/family.h"

namespace sparseloop {

Family ctrl_family();

}  // namespace sparseloop
