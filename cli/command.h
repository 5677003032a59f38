// A flopslab command: its name and the function that adds it to the app (its options, bound
// to its own arguments) and sets `run` to what runs it once parsed. commands() is the one list
// of them: main dispatches through it, and the help and the error messages are made from it.
// Each command lives in a file of its own (cli/<name>_command.cpp).
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "harness/json.h"
#include "harness/machine/machine.h"

namespace flopslab::cli {

// Runs a parsed command; `command_line` is how it was invoked ("flopslab gemm --quick"), for the
// JSON it writes. Returns the exit status: 0, or 1 when a measurement or check failed; bad input
// is a UsageError (cli/args.h) that main turns into exit 2.
using CommandRun = std::function<int(const std::string& command_line)>;

struct Command {
  const char* name;
  CLI::App* (*add)(CLI::App& app, CommandRun& run);
};

// In the order the help lists them.
std::span<const Command> commands();
std::string command_names();  // "info, probe, gemm, ...": for messages that list the choices

CLI::App* add_info_command(CLI::App& app, CommandRun& run);
CLI::App* add_probe_command(CLI::App& app, CommandRun& run);
CLI::App* add_gemm_command(CLI::App& app, CommandRun& run);
CLI::App* add_conv_command(CLI::App& app, CommandRun& run);
CLI::App* add_train_command(CLI::App& app, CommandRun& run);
CLI::App* add_lr_find_command(CLI::App& app, CommandRun& run);
CLI::App* add_infer_command(CLI::App& app, CommandRun& run);
CLI::App* add_demo_command(CLI::App& app, CommandRun& run);
CLI::App* add_allreduce_command(CLI::App& app, CommandRun& run);
CLI::App* add_scale_command(CLI::App& app, CommandRun& run);
CLI::App* add_report_command(CLI::App& app, CommandRun& run);
CLI::App* add_roofline_command(CLI::App& app, CommandRun& run);
CLI::App* add_compare_command(CLI::App& app, CommandRun& run);
CLI::App* add_lesson_command(CLI::App& app, CommandRun& run);
CLI::App* add_course_command(CLI::App& app, CommandRun& run);

// The options many commands share, worded once.
void add_json_option(CLI::App& sub, std::string& file, const std::string& what = "every result, with the machine");
void add_quick_flag(CLI::App& sub, bool& quick, const std::string& what = "Small sizes and short timing (a smoke test)");
void add_no_progress_flag(CLI::App& sub, bool& no_progress);
void add_force_flag(CLI::App& sub, bool& force, const std::string& what = "Replace --out if it exists");
void add_no_plots_flag(CLI::App& sub, bool& no_plots, const std::string& what = "Do not draw the charts");

// What the measuring commands share.
// A warning on stderr for each thread count over the logical CPUs (they would share cores).
void warn_oversubscription(const std::vector<int>& threads, int logical_cpus);
// --device of gemm and conv: true for cuda, which needs a usable GPU; a UsageError otherwise.
bool wants_gpu(const char* command, const std::string& device, const bench::MachineInfo& machine);
// The end of gemm and conv: the JSON file when asked for, then 1 if any check failed.
int finish_sweep(const std::string& json_path, const Json& json, bool all_checks_passed);
// --threads of the training commands: the value, or every physical core.
int threads_or_cores(const std::string& option, const std::string& text);

}  // namespace flopslab::cli
