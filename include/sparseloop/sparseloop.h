// The whole library: every layer and the built-in model families
// (docs/architecture.md). A program that trains or analyses runs by model
// name calls register_builtin_families() once first.
#pragma once

#include "sparseloop/engine/family.h"

namespace sparseloop {

/// Registers CSC-CTRL, SDNet and VDL with the engine (idempotent).
void register_builtin_families();

}  // namespace sparseloop
