// Lesson 02: the memory hierarchy. The latency staircase (pointer chasing from 1 KiB to 1 GiB)
// with the levels found from the curve, against hwloc's sizes and the textbook latencies; and
// STREAM bandwidth from L1 to DRAM.
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "harness/files.h"
#include "bench/probes/probe.h"
#include "lessons/frame.h"
#include "lessons/report_data.h"
#include "harness/format.h"

namespace flopslab::lessons {

namespace {

const char kTitle[] = "The memory hierarchy";

// The checks, on the latency and bandwidth probes' JSON: this run's, or a stored report's.
// `virtual_machine`: the CPU said it runs under a hypervisor.
int lesson_02_checks(LessonRun& lesson, const Json& latency, const Json& bandwidth, bool virtual_machine) {
  const Json& levels = latency["levels"];
  auto level = [&](const char* name, const char* field) { return point_value(levels, {{"level", name}}, field); };
  struct Book {
    const char* level;
    double ns;
    const char* source;
  };
  for (const Book& b : {Book{"L1", 0.5, "2010 latency list"}, Book{"L1", 1.5, "d2l"}, Book{"L2", 7, "2010 latency list"},
                        Book{"L2", 5, "d2l"}, Book{"L3", 16, "d2l"}, Book{"DRAM", 100, "2010 latency list"},
                        Book{"DRAM", 60, "d2l: 46-75"}})
    if (std::isfinite(level(b.level, "latency_ns")))
      lesson.compare(fmt::format("{} latency (ns)", b.level), b.ns, b.source, level(b.level, "latency_ns"), "");
  for (const char* name : {"L1", "L2", "L3"})
    if (level(name, "hwloc_bytes") > 0 && level(name, "boundary_bytes") > 0)
      lesson.compare(fmt::format("{} size (KiB)", name), level(name, "hwloc_bytes") / 1024, "hwloc, this machine",
                     level(name, "boundary_bytes") / 1024, "");

  // One thread: each kernel at its smallest (L1) and largest (DRAM) working set.
  const Json& bw = bandwidth["points"];
  auto at_extreme = [&](const char* kernel, bool largest) {
    double bytes = largest ? 0 : 1e30, value = std::nan("");
    for (const Json& p : bw)
      if (p["threads"] == 1 && p["kernel"] == kernel &&
          (largest ? p["bytes"].get<double>() > bytes : p["bytes"].get<double>() < bytes))
        bytes = p["bytes"].get<double>(), value = p["gbytes_per_s"].get<double>();
    return value;
  };
  // L1's figure is the best working set that fits in L1, not the smallest one: a tiny set's
  // call is mostly loop start-up and timer, and on a busy VM a single point can land low.
  auto best_within = [&](const char* kernel, double max_bytes) {
    double value = std::nan("");
    for (const Json& p : bw)
      if (p["threads"] == 1 && p["kernel"] == kernel && p["bytes"].get<double>() <= max_bytes)
        value = std::isnan(value) ? p["gbytes_per_s"].get<double>() : std::fmax(value, p["gbytes_per_s"].get<double>());
    return value;
  };
  const double copy = at_extreme("copy", true), copy_nt = at_extreme("copy-nt", true);
  const double l1_bytes = level("L1", "hwloc_bytes");
  const double triad_small = l1_bytes > 0 && std::isfinite(best_within("triad", l1_bytes))
                                 ? best_within("triad", l1_bytes)
                                 : at_extreme("triad", false);
  const double triad_dram = at_extreme("triad", true);
  lesson.compare("copy-nt over copy at DRAM sizes (write-allocate)", 1.5, "24 bytes moved per element vs 16",
                 copy_nt / copy, "x");

  const double l1 = level("L1", "latency_ns");
  // Where the curve ends while still climbing (a VM's slice of a large L3 gives no flat DRAM
  // plateau within quick mode's 64 MiB), the far end stands for DRAM: the largest working set.
  const Json& curve = latency["points"];
  const bool dram_found = std::isfinite(level("DRAM", "latency_ns"));
  const double dram = dram_found ? level("DRAM", "latency_ns") : curve.empty() ? std::nan("") : curve.back()["ns"].get<double>();
  const std::string dram_name =
      dram_found ? "DRAM"
                 : fmt::format("the largest working set ({}; no DRAM plateau found)",
                               curve.empty() ? "none" : bench::format_bytes(curve.back()["bytes"].get<double>()));
  // A random cycle starts missing before the cache is full (sets fill unevenly, replacement is
  // not LRU), so a boundary lands at 0.7-1x the size. On a VM the host may run another guest's
  // thread on our core's SMT sibling, which then holds part of the L2 (a Granite Rapids guest
  // found its 2 MiB L2's edge anywhere from 0.42x to 0.84x in one series of runs): there the L2
  // may end as early as a quarter of its size.
  for (const char* name : {"L1", "L2"}) {
    const double ratio = level(name, "boundary_bytes") / level(name, "hwloc_bytes");
    const double low = virtual_machine && std::string(name) == "L2" ? 0.25 : 0.5;
    lesson.check(ratio >= low && ratio <= 2,
                 low == 0.5 ? fmt::format("the {} boundary found from the curve is within 2x of hwloc's size ({:.2f}x)",
                                          name, ratio)
                            : fmt::format("the {} boundary found from the curve is between 0.25x (a VM: the core's "
                                          "other hardware thread may belong to another guest) and 2x hwloc's size "
                                          "({:.2f}x)",
                                          name, ratio));
  }
  bool increasing = levels.size() >= 2;
  for (std::size_t k = 1; k < levels.size(); ++k)
    increasing = increasing && levels[k]["latency_ns"].get<double>() > levels[k - 1]["latency_ns"].get<double>();
  lesson.check(increasing, fmt::format("each of the {} levels found is slower than the one before", levels.size()));
  lesson.check(dram >= 20 * l1, fmt::format("{} is at least 20x slower than L1 ({:.0f}x)", dram_name, dram / l1));
  lesson.check(triad_small >= 3 * triad_dram,
               fmt::format("triad ran at least 3x faster from L1 than from DRAM ({:.1f}x)", triad_small / triad_dram));
  return lesson.finish(fmt::format(
      "a load costs {:.1f} ns when the data is in L1 and {:.0f} ns when it comes from DRAM, {:.0f}x more; what "
      "decides speed is which level the working set fits in.",
      l1, dram, dram / l1));
}

}  // namespace

int run_lesson_02(const LessonOptions& options) {
  LessonRun lesson(2, kTitle);
  const bench::ProbeSession session({.quick = options.quick, .cores = options.threads,
                                     .progress = lesson.progress_callback()});
  const bench::ProbeReport latency = bench::find_probe("latency")->run(session.context);
  lesson.say(latency.text());
  const bench::ProbeReport bandwidth = bench::find_probe("bandwidth")->run(session.context);
  lesson.say(bandwidth.text());
  return lesson_02_checks(lesson, latency.json, bandwidth.json, session.machine.hypervisor);
}

int recheck_lesson_02(const StoredRun& stored) {
  LessonRun lesson(2, kTitle);
  lesson.say(stored.describe());
  const bool hypervisor = stored.report.value("machine", Json::object()).value("cpu", Json::object()).value("hypervisor", false);
  return lesson_02_checks(lesson, stored.cpu_section("latency"), stored.cpu_section("bandwidth"), hypervisor);
}

}  // namespace flopslab::lessons
