// The cost of scaling out: `flopslab allreduce` (the collective measured between ranks) and
// `flopslab scale` (the cost model's predictions for 2 to 1024 ranks, with its chart).
#pragma once

#include "cli/train_commands.h"

namespace flopslab::cli {

CLI::App* add_allreduce_command(CLI::App& app, CommandRun& run);
CLI::App* add_scale_command(CLI::App& app, CommandRun& run);

}  // namespace flopslab::cli
