// flopslab: one command for the whole suite. main() only dispatches: each command is a file of
// its own (cli/<name>_command.cpp), listed once in cli/command.cpp's table, from which the help
// and the error messages are made.
//
// Exit status: 0 success, 1 a measurement or check failed, 2 bad input (a UsageError naming
// the value, or an output that cannot be written), each with one line on stderr.
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/args.h"
#include "cli/command.h"
#include "harness/build_info.h"
#include "harness/files.h"
#include "harness/simd_cap.h"
#include "kernels/cpu/cpu_features.h"

namespace flopslab::cli {
namespace {

std::string joined_command(int argc, char** argv) {
  std::string s = "flopslab";
  for (int i = 1; i < argc; ++i) s += std::string(" ") + argv[i];
  return s;
}

// A ParseError as one line: the first option the command does not have, by name (CLI11 lists
// the extras last first, "64 --sizes"), or CLI11's own message.
UsageError usage_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  std::string where = "flopslab";
  const CLI::App* command = &app;
  for (const CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name(), command = sub;
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr)
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i], name = arg.substr(0, arg.find('='));
      const bool option = name.size() > 1 && name[0] == '-' && (name[1] == '-' || std::isalpha(name[1]));
      if (option && command->get_option_no_throw(name) == nullptr)
        return UsageError(fmt::format("{} is not an option of '{}' (see '{} --help')", name, where, where));
    }
  return UsageError(fmt::format("{} (see '{} --help')", e.what(), where));
}

int run(int argc, char** argv) {
  CLI::App app{"New here? Run scripts/report first, then flopslab course --quick or flopslab lesson 1.\n"
               "The report lands in reports/<machine>-<date>/: report.html (for a browser), report.md, report.json.\n"
               "Every command is listed below; 'flopslab COMMAND --help' gives its options.\n\n"
               "flopslab measures what this machine can do for deep learning, and why. Every result is\n"
               "checked against a reference and set against the machine's measured peak and the best\n"
               "library on the same machine.",
               "flopslab"};
  app.set_version_flag("--version", std::string("flopslab ") + build_info().version + " (" +
                                        build_info().git_commit + ")");
  app.footer("Exit status: 0 success, 1 a measurement or check failed, 2 bad input.\n"
             "Run 'flopslab COMMAND --help' for the options of a command.");
  std::vector<std::pair<CLI::App*, CommandRun>> added;
  for (const Command& c : commands()) {
    CommandRun run;
    CLI::App* sub = c.add(app, run);
    added.emplace_back(sub, std::move(run));
  }

  if (argc == 1) {  // no command: the help, which starts with where to begin
    std::printf("%s", app.help().c_str());
    return 0;
  }
  // CLI11 would call an unknown command "an extra argument"; name it and the choices instead.
  if (argv[1][0] != '-') {
    bool known = false;
    for (const Command& c : commands()) known = known || c.name == std::string(argv[1]);
    if (!known) throw UsageError(fmt::format("unknown command '{}' (valid: {})", argv[1], command_names()));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    throw usage_error(app, e, argc, argv);
  }
  for (auto& [sub, run] : added)
    if (sub->parsed()) return run(joined_command(argc, argv));
  throw UsageError(fmt::format("no command given (valid: {}; see 'flopslab --help')", command_names()));
}

}  // namespace
}  // namespace flopslab::cli

int main(int argc, char** argv) {
  if (const std::string problem = flopslab::simd_cap_problem(); !problem.empty()) {
    std::fprintf(stderr, "flopslab: %s\n", problem.c_str());
    return 2;
  }
  flopslab::bench::apply_simd_cap_to_peers(argv);
  try {
    return flopslab::cli::run(argc, argv);
  } catch (const flopslab::cli::UsageError& e) {
    std::fprintf(stderr, "flopslab: %s\n", e.what());
    return 2;
  } catch (const flopslab::bench::OutputError& e) {  // an output the user named cannot be written
    std::fprintf(stderr, "flopslab: %s\n", e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {  // the same, from a path no check foresaw
    std::fprintf(stderr, "flopslab: %s: %s\n", e.path1().c_str(), e.code().message().c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flopslab: error: %s\n", e.what());
    return 1;
  }
}
