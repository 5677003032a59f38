// `flopslab compare A B`: two reports side by side (report/report_compare.h).
#pragma once

#include "cli/train_commands.h"

namespace flopslab::cli {

CLI::App* add_compare_command(CLI::App& app, CommandRun& run);

}  // namespace flopslab::cli
