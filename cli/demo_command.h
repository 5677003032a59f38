// `flopslab demo`: the classroom race, CPU against GPU (demo/demo.h).
#pragma once

#include "cli/train_commands.h"

namespace flopslab::cli {

CLI::App* add_demo_command(CLI::App& app, CommandRun& run);

}  // namespace flopslab::cli
