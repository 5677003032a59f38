// The training subcommands: `flopslab train` and `flopslab lr-find`. Each adds its options to
// the app and returns the function that runs it once parsed.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace flopslab::cli {

using CommandRun = std::function<int()>;

CLI::App* add_train_command(CLI::App& app, CommandRun& run);
CLI::App* add_lr_find_command(CLI::App& app, CommandRun& run);

}  // namespace flopslab::cli
