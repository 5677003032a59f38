// `flopslab report [--out DIR]`: everything measured, written to report.md, report.json, report.html and charts.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/args.h"
#include "cli/command.h"
#include "harness/progress.h"
#include "report/report.h"

namespace flopslab::cli {
namespace {

struct ReportArgs {
  std::string out;
  bool force = false, quick = false, no_plots = false, no_progress = false;
};

int run_report(const ReportArgs& a, const std::string& command) {
  bench::ReportOptions o{.out_dir = a.out, .force = a.force, .quick = a.quick, .plots = !a.no_plots,
                         .command_line = command};
  if (const std::string problem = bench::report_problem(o); !problem.empty()) throw UsageError("report: " + problem);
  bench::Progress progress(!a.no_progress);
  o.progress = [&](const std::string& line) { progress(line); };
  const bench::ReportOutcome out = bench::write_report(o);
  progress.finish();
  std::printf("Wrote %s/: ", out.dir.c_str());
  for (std::size_t i = 0; i < out.files.size(); ++i) std::printf("%s%s", i ? ", " : "", out.files[i].c_str());
  std::printf("\n");
  if (!out.plot_note.empty()) std::printf("Note: %s\n", out.plot_note.c_str());
  if (!out.checks_passed) {
    std::fprintf(stderr, "flopslab: error: some kernel results failed verification; see report.md\n");
    return 1;
  }
  return 0;
}

}  // namespace

CLI::App* add_report_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<ReportArgs>();
  auto* sub = app.add_subcommand("report", "Measure this machine and write report.md, report.json and charts");
  sub->add_option("--out", a->out, "Directory to write  [reports/<machine>-<date>]")->type_name("DIR");
  add_force_flag(*sub, a->force, "Replace --out if it exists");
  add_quick_flag(*sub, a->quick, "Tiny sizes and short timing (a smoke test, not a measurement)");
  add_no_plots_flag(*sub, a->no_plots, "Do not run scripts/plot");
  add_no_progress_flag(*sub, a->no_progress);

  run = [a](const std::string& command) { return run_report(*a, command); };
  return sub;
}

}  // namespace flopslab::cli
