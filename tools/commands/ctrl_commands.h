#pragma once
#include "analysis.h"
namespace sparseloop::cli {
/// CSC-CTRL / CTRL analysis handlers (tools/commands/ctrl_commands.cpp).
FamilyHandlers ctrl_handlers();
}  // namespace sparseloop::cli
