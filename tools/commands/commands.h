// Every subcommand registers itself here; tools/sparseloop.cpp calls these.
#pragma once

#include <vector>

#include "cli.h"

namespace sparseloop::cli {

void register_code(CLI::App& app, std::vector<Command>& commands);
void register_bench(CLI::App& app, std::vector<Command>& commands);
void register_data(CLI::App& app, std::vector<Command>& commands);
void register_train(CLI::App& app, std::vector<Command>& commands);
void register_analysis(CLI::App& app, std::vector<Command>& commands);

}  // namespace sparseloop::cli
