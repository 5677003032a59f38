// `flopslab course`: the lessons in order, with one table at the end (lessons/course.h).
#pragma once

#include "cli/train_commands.h"

namespace flopslab::cli {

CLI::App* add_course_command(CLI::App& app, CommandRun& run);

}  // namespace flopslab::cli
