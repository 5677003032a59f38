// `flopslab infer`: a model in evaluation mode, unfused and fused (lesson 18).
#pragma once

#include "cli/train_commands.h"

namespace flopslab::cli {

CLI::App* add_infer_command(CLI::App& app, CommandRun& run);

}  // namespace flopslab::cli
