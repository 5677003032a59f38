// Lesson 03: locality. Spatial: row against column traversal, a stride sweep. Temporal: reuse
// by blocking (transpose). Both at once: the memory mountain.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bench/probes/probe.h"
#include "harness/files.h"
#include "lessons/frame.h"
#include "lessons/report_data.h"
#include "harness/format.h"

namespace flopslab::lessons {

namespace {

const char kTitle[] = "Locality";

// The checks, on the locality probe's JSON: this run's, or a stored report's. `llc` is the
// last-level cache's size (hwloc), `hint` what to run for a mountain that stops inside it.
int lesson_03_checks(LessonRun& lesson, const Json& j, std::int64_t llc, const std::string& hint) {
  const double slowdown = point_value(j["traversal"], {{"order", "column"}}, "slowdown");
  const double stride1 = point_value(j["strides"], {{"stride", 1}}, "ns_per_element");
  const double stride8 = point_value(j["strides"], {{"stride", 8}}, "ns_per_element");
  double transpose_best = 0;
  for (const Json& t : j["transpose"]) transpose_best = std::max(transpose_best, t["speedup"].get<double>());
  const Json& m = j["mountain"];
  double small = 0, big = 0;
  double smallest = 1e30, largest = 0;
  for (const Json& p : m) smallest = std::min(smallest, p["bytes"].get<double>()), largest = std::max(largest, p["bytes"].get<double>());
  int widest_stride = 0;
  for (const Json& p : m) widest_stride = std::max(widest_stride, p["stride"].get<int>());
  for (const Json& p : m) {
    if (p["bytes"] == smallest && p["stride"] == 1) small = p["gbytes_per_s"].get<double>();
    if (p["bytes"] == largest && p["stride"] == widest_stride) big = p["gbytes_per_s"].get<double>();
  }

  lesson.compare("column over row traversal, time", 8, "one 64-byte line per element instead of per 8", slowdown, "x");
  lesson.compare("stride 8 over stride 1, time per element", 8, "a new line per read instead of every 8th", stride8 / stride1, "x");

  lesson.check(slowdown >= 3, fmt::format("column traversal was at least 3x slower than row traversal ({:.1f}x)", slowdown));
  lesson.check(stride8 >= 3 * stride1,
               fmt::format("reading every 8th double cost at least 3x per element what reading all did ({:.1f}x)",
                           stride8 / stride1));
  lesson.check(transpose_best >= 1.5,
               fmt::format("the best blocked transpose beat the naive one by at least 1.5x ({:.1f}x)", transpose_best));
  if (llc > 0 && largest > double(llc))
    lesson.check(small >= 5 * big,
                 fmt::format("the mountain's peak (16 KiB, stride 1) is at least 5x its foot ({} past the {} last-level "
                             "cache, stride {}): {:.1f} vs {:.2f} GB/s",
                             bench::format_bytes(largest), bench::format_bytes(double(llc)), widest_stride, small, big));
  else
    lesson.say(fmt::format("(The mountain stops at {}, inside the {} last-level cache, so its foot is not in DRAM and "
                           "the peak-to-foot check is left for a run that reaches past the cache{}.)",
                           bench::format_bytes(largest), bench::format_bytes(double(llc)), hint));
  return lesson.finish(fmt::format(
      "the same arithmetic over the same bytes ran {:.1f}x slower in the wrong order: use every byte of a line you "
      "fetch (spatial), and finish with data before it is evicted (temporal).",
      slowdown));
}

}  // namespace

int run_lesson_03(const LessonOptions& options) {
  LessonRun lesson(3, kTitle);
  const bench::ProbeSession session({.quick = options.quick, .cores = options.threads,
                                     .progress = lesson.progress_callback()});
  const bench::ProbeReport report = bench::find_probe("locality")->run(session.context);
  lesson.say(report.text());
  std::int64_t llc = 0;
  for (int level = 1; level <= 4; ++level) llc = std::max(llc, bench::cache_bytes(session.context.machine, level));
  return lesson_03_checks(lesson, report.json, llc,
                          options.quick ? ": run the lesson without --quick" : ": flopslab probe locality --max-size");
}

int recheck_lesson_03(const StoredRun& stored) {
  LessonRun lesson(3, kTitle);
  lesson.say(stored.describe());
  // The last-level cache as hwloc reported it on that machine (the latency probe keeps it).
  std::int64_t llc = 0;
  for (const Json& c : stored.cpu_section("latency").value("hwloc_caches", Json::array()))
    llc = std::max(llc, c.value("bytes", std::int64_t(0)));
  return lesson_03_checks(lesson, stored.cpu_section("locality"), llc, "");
}

}  // namespace flopslab::lessons
