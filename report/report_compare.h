// `flopslab compare A B`: the headline figures of two reports (two machines, or one machine
// before and after a change) side by side, with the ratio B / A, grouped by section.
#pragma once

#include <string>
#include <vector>

#include "harness/json.h"
#include "harness/table.h"

namespace flopslab::bench {

struct Figure {
  std::string section, name, unit;
  double value = 0;
  bool higher_is_better = true;  // false for latencies and times
};

struct ComparedFigure {
  std::string section, name, unit;
  double a = 0, b = 0;
  bool higher_is_better = true;
  double ratio() const { return a != 0 ? b / a : 0; }
};
struct ReportComparison {
  std::string schema, machine_a, machine_b;
  std::vector<ComparedFigure> both;             // in A's order
  std::vector<std::string> only_a, only_b;      // "section: name", figures one report lacks
  std::vector<std::string> sections_a_only, sections_b_only;
  // Each report's roofs and ridge points (its Roofline section, or computed from its probes for a
  // report older than that section), for one chart with both rooflines.
  Json roofs_a, roofs_b;
};
// Throws std::invalid_argument naming the problem when either is not a report, or their
// schema versions differ.
ReportComparison compare_reports(const Json& a, const Json& b);
// Reads DIR/report.json; throws std::invalid_argument("DIR is not a report directory (no
// report.json)") or naming what cannot be parsed.
Json read_report(const std::string& dir);

// One table per section: figure, A, B, B / A (and whether B is better).
std::vector<std::pair<std::string, Table>> comparison_tables(const ReportComparison& c);
Json comparison_json(const ReportComparison& c);

}  // namespace flopslab::bench
