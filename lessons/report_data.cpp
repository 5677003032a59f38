// Reading figures out of report JSON: points by their fields, stored reports, hidden SMT.
#include "lessons/report_data.h"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace flopslab::lessons {

const Json* find_point(const Json& points, const std::vector<std::pair<std::string, Json>>& match) {
  for (const Json& p : points) {
    bool all = true;
    for (const auto& [key, value] : match) all = all && p.contains(key) && p[key] == value;
    if (all) return &p;
  }
  return nullptr;
}

double point_value(const Json& points, const std::vector<std::pair<std::string, Json>>& match, const char* field) {
  const Json* p = find_point(points, match);
  return p != nullptr && p->contains(field) && (*p)[field].is_number() ? (*p)[field].get<double>() : std::nan("");
}

std::string StoredRun::describe() const {
  const Json& m = report.value("machine", Json::object());
  const Json& cpu = m.value("cpu", Json::object());
  const Json& topology = m.value("topology", Json::object());
  return fmt::format("Rechecked from {}: measured on {} ({} cores reported) on {}{}. Nothing is measured now; the "
                     "checks below run on the data stored there.",
                     path, cpu.value("brand", std::string("an unnamed CPU")), topology.value("physical_cores", 0),
                     m.value("date_utc", std::string("an unknown date")),
                     report.value("quick", false) ? " in quick mode" : "");
}

bool StoredRun::has_cpu_section(const char* name) const {
  const Json& sections = report.value("sections", Json::object());
  return sections.contains("cpu") && sections["cpu"].is_object() && sections["cpu"].contains(name);
}

const Json& StoredRun::cpu_section(const char* name) const {
  if (!has_cpu_section(name)) throw std::runtime_error(fmt::format("{} has no sections.cpu.{}", path, name));
  return report["sections"]["cpu"][name];
}

HiddenSmt find_hidden_smt(const Json& threads_probe) {
  HiddenSmt h;
  const Json& points = threads_probe.value("points", Json::array());
  const int cores = threads_probe.value("cores", 0), logical = threads_probe.value("logical_cpus", 0);
  if (logical != cores || cores < 2 || cores % 2 != 0) return h;
  const Json& l1 = threads_probe.value("l1_sharing", Json::object());
  if (cores == 2) {
    // Two points make no curve: the L1 test says whether the two are one core.
    if (l1.value("changed", false)) {
      const Json& after = l1.value("after", Json::object());
      h.unsettled = true;
      h.finding = fmt::format(
          "The L1 test gave two answers: both threads together took {:.1f}x as long per load as one alone before the "
          "curve and {:.1f}x after it (1.5x or more means one shared L1){}. The hypervisor moved the two vCPUs between "
          "one core's hardware threads and two cores during the run, so the curve's 2-thread points may have run on "
          "either; the claims about cores are not tested. Run the lesson again.",
          l1.value("together_ns", 0.0) / l1.value("alone_ns", 1.0),
          after.value("together_ns", 0.0) / after.value("alone_ns", 1.0),
          l1.value("runs", 1) > 1 ? fmt::format(", in both of {} runs", l1.value("runs", 1)) : "");
      return h;
    }
    if (!l1.value("shared", false)) return h;
    const double one = point_value(points, {{"threads", 1}}, "fma_gflops");
    const double two = point_value(points, {{"threads", 2}}, "fma_gflops");
    if (!(one > 0) || !std::isfinite(two)) return h;
    h.found = true, h.cores = 1, h.half_speedup = 1, h.rest_gain = two / one - 1, h.evidence = "L1 test";
    h.finding = fmt::format(
        "The topology shows 2 cores with one hardware thread each, but they share one L1 cache: two threads chasing "
        "pointers through 3/4 of it each took {:.2f} ns per load together against {:.2f} alone ({:.1f}x). They are "
        "one core's two hardware threads (or one CPU the hypervisor runs both on in turn), and the second added "
        "{:+.0f}% to the FMA loop. The checks below count 1 core.",
        l1.value("together_ns", 0.0), l1.value("alone_ns", 0.0),
        l1.value("together_ns", 0.0) / l1.value("alone_ns", 1.0), 100 * h.rest_gain);
    return h;
  }
  if (cores < 4) return h;
  const int half = cores / 2;
  const double one = point_value(points, {{"threads", 1}}, "fma_gflops");
  const double at_half = point_value(points, {{"threads", half}}, "fma_gflops");
  const double all = point_value(points, {{"threads", cores}}, "fma_gflops");
  if (!(one > 0) || !std::isfinite(at_half) || !std::isfinite(all)) return h;
  if (all >= 0.6 * cores * one || at_half < 0.8 * half * one) return h;
  h.found = true, h.cores = half, h.half_speedup = at_half / one, h.rest_gain = all / at_half - 1;
  h.evidence = "curve";
  h.finding = fmt::format(
      "The topology shows {0} cores with one hardware thread each, but the FMA loop scaled {1:.2f}x on {2} threads "
      "and {3:.2f}x on all {0}: the second {2} threads added {4:+.0f}%. That is what {2} cores with two hardware threads "
      "each do when a hypervisor presents every hardware thread as a core. The checks below count {2} cores.",
      cores, h.half_speedup, half, all / one, 100 * h.rest_gain);
  return h;
}

}  // namespace flopslab::lessons
