// Reading a lesson's figures out of a report's JSON: points of a probe by their fields, a stored
// report whose measurements the checks can run on again (`flopslab course --recheck`), and what
// a thread-scaling curve says about hardware threads the topology hides.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "harness/json.h"

namespace flopslab::lessons {

// The first element of a JSON array whose fields match every (key, value) pair, or null.
const Json* find_point(const Json& points, const std::vector<std::pair<std::string, Json>>& match);
// A number from such a point, NaN when the point or field is missing.
double point_value(const Json& points, const std::vector<std::pair<std::string, Json>>& match, const char* field);

// A stored report (`flopslab report`'s report.json) whose measurements a lesson's checks can
// be run on again: the committed sample reports of other machines, or an earlier run here.
struct StoredRun {
  std::string path;  // the report directory
  Json report;       // its report.json
  // "Rechecked from DIR: measured on CPU (N cores) on DATE; nothing is measured now."
  std::string describe() const;
  bool has_cpu_section(const char* name) const;
  const Json& cpu_section(const char* name) const;  // sections.cpu.<name>; throws if missing
};

// What a thread-scaling curve (the threads probe's JSON) says about cores the topology does not
// show. A hypervisor may present each core's two hardware threads as two cores: then FMA
// throughput grows linearly up to half of them and hardly at all beyond. Found when the topology
// shows no SMT, the loop on all "cores" stayed under 0.6x linear, and on half of them it reached
// 0.8x linear. Two "cores" draw no curve: there the probe's L1 tests before and after the curve
// decide (one shared L1 is one core); where they disagree the run is unsettled, and neither the
// core count nor a scaling claim can be read off it.
struct HiddenSmt {
  bool found = false;
  bool unsettled = false;  // the L1 tests disagreed: the hypervisor moved the vCPUs mid-run
  int cores = 0;           // the cores the curve shows (half the reported ones; 1 of 2)
  double half_speedup = 0; // FMA speed-up on those cores
  double rest_gain = 0;    // what the other half of the threads added, relative (0.02: +2%)
  std::string evidence;    // what showed it: "curve" or "L1 test"
  std::string finding;     // one paragraph for the lesson's text
};
HiddenSmt find_hidden_smt(const Json& threads_probe);

}  // namespace flopslab::lessons
