// The SDNet family as the engine sees it (engine/family.h): models sdnet18,
// sdnet34, sdnet18-all, sdnet34-all and the ResNet baselines resnet18, resnet34.
#pragma once

#include "sparseloop/engine/family.h"

namespace sparseloop {

Family sdnet_family();

}  // namespace sparseloop
