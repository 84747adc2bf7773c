// Every subcommand registers itself here; tools/sparseloop.cpp calls these.
#pragma once

#include <string>
#include <vector>

#include "cli.h"

namespace sparseloop::cli {

void register_code(CLI::App& app, std::vector<Command>& commands);
void register_bench(CLI::App& app, std::vector<Command>& commands);
void register_data(CLI::App& app, std::vector<Command>& commands);
/// `args`: the whole command line (after the program name): `train` picks
/// its flags from the family the run is for.
void register_train(CLI::App& app, std::vector<Command>& commands,
                    const std::vector<std::string>& args);
void register_analysis(CLI::App& app, std::vector<Command>& commands);
void register_sweep(CLI::App& app, std::vector<Command>& commands);
void register_interop(CLI::App& app, std::vector<Command>& commands);

}  // namespace sparseloop::cli
