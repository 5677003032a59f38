// `flopslab report`: measures this machine section by section and writes a directory with
// report.md (for people), report.json (every raw number, with the machine) and PNG charts
// drawn by scripts/plot from report.json.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "harness/machine/machine.h"

namespace flopslab::bench {

struct ReportOptions {
  std::string out_dir;  // the directory to create; empty: reports/<machine>-<date>
  bool force = false;   // replace out_dir if it exists
  bool quick = false;   // small sizes, short timing: a smoke test, not a measurement
  bool plots = true;
  std::string command_line;  // recorded in the report
  std::function<void(const std::string&)> progress;
};

struct ReportOutcome {
  std::string dir;
  std::vector<std::string> files;  // written inside dir
  std::string plot_note;           // why charts are missing, empty when they were drawn
  bool checks_passed = true;       // every kernel result matched its reference
};

// Where the course's files go by default: today's latest report of this machine when it has
// none yet (the course joins the report), else a new directory as default_report_dir.
std::string default_course_dir(const MachineInfo& machine);

// Empty when the options can run; otherwise a one-line reason (usage error).
std::string report_problem(const ReportOptions& options);

// Builds everything in "<dir>.partial-<pid>" and renames it to dir at the end, so an
// interrupted run never leaves a half-written report under the final name.
ReportOutcome write_report(const ReportOptions& options);

}  // namespace flopslab::bench
