// Lesson 04: parallelism and hyperthreads. Topology from hwloc, then a compute-bound and a
// memory-bound loop over 1..N pinned threads.
#include <cmath>

#include <fmt/format.h>

#include "harness/cpu_share.h"
#include "harness/format.h"
#include "bench/probes/probe.h"
#include "lessons/frame.h"
#include "lessons/report_data.h"

namespace flopslab::lessons {

namespace {

const char kTitle[] = "Parallelism and hyperthreads";

// The checks, on the threads probe's JSON: this run's, or a stored report's.
int lesson_04_checks(LessonRun& lesson, const Json& threads) {
  const Json& points = threads["points"];
  const int cores = threads["cores"].get<int>();
  const int logical = threads["logical_cpus"].get<int>();
  const double fma1 = point_value(points, {{"threads", 1}}, "fma_gflops");
  const double fma_all = point_value(points, {{"threads", cores}}, "fma_gflops");
  const double fma_smt = point_value(points, {{"threads", logical}}, "fma_gflops");
  const double mem1 = point_value(points, {{"threads", 1}}, "triad_gbytes_per_s");
  const double mem_all = point_value(points, {{"threads", cores}}, "triad_gbytes_per_s");

  lesson.compare(fmt::format("compute-bound speed-up on {} cores", cores), cores, "ideal: one FMA unit set per core",
                 fma_all / fma1, "x");
  lesson.compare(fmt::format("memory-bound speed-up on {} cores", cores), cores, "ideal, if bandwidth grew with cores",
                 mem_all / mem1, "x");
  if (logical > cores)
    lesson.compare("adding SMT siblings, compute-bound", 1.0, "seed notes 000 §1.1.2: no help for compute-bound work",
                   fma_smt / fma_all, "x");

  const HiddenSmt hidden = find_hidden_smt(threads);
  if (hidden.found) {
    // The claim is about cores; the curve shows how many there are. Linear scaling on them is
    // how they were found, so what is checked is the other half of the claim: siblings add
    // nothing to FMA-bound work.
    lesson.say("\n" + hidden.finding);
    lesson.check(hidden.rest_gain <= 0.15,
                 fmt::format("the {} beyond the {} the {} shows added less than 15% to the compute-bound loop, as SMT "
                             "siblings do ({:+.0f}%)",
                             bench::plural(cores - hidden.cores, "thread"), bench::plural(hidden.cores, "core"),
                             hidden.evidence, 100 * hidden.rest_gain));
  }
  if (hidden.unsettled) {
    lesson.say("\n" + hidden.finding);
    const std::string why = "the L1 tests before and after the curve disagreed about whether the 2 CPUs are 2 cores";
    lesson.untested(fmt::format("the compute-bound loop scaled to at least {:.1f}x on {} cores ({:.2f}x)", 0.8 * cores,
                                cores, fma_all / fma1),
                    why);
    lesson.untested(fmt::format("the memory-bound loop scaled less than the compute-bound one ({:.2f}x vs {:.2f}x)",
                                mem_all / mem1, fma_all / fma1),
                    why);
  } else if (hidden.found && hidden.cores == 1) {
    lesson.say("With one core there is no scaling across cores to compare the memory-bound loop with: that half of "
               "the lesson needs a machine with two cores or more.");
  } else if (cores > 1) {
    const Json* all_point = find_point(points, {{"threads", cores}});
    const Json fma_share = all_point != nullptr ? all_point->value("fma_cpu_share", Json()) : Json();
    const Json triad_share = all_point != nullptr ? all_point->value("triad_cpu_share", Json()) : Json();
    if (!hidden.found)
      lesson.check_with_cpus(fma_share, cores, fma_all >= 0.8 * cores * fma1,
                             fmt::format("the compute-bound loop scaled to at least {:.1f}x on {} cores ({:.2f}x)",
                                         0.8 * cores, cores, fma_all / fma1));
    // Bandwidth runs out before cores only where the cores can draw more than the memory gives.
    // A few cores of a large socket (a small virtual machine) may not: then both loops scale
    // alike, and the lesson says so instead of checking a claim the machine does not set up.
    if (mem_all / mem1 >= 0.9 * cores)
      lesson.say(fmt::format("\nThe memory-bound loop scaled {:.2f}x on {} cores, nearly linearly: these cores together "
                             "draw {:.1f} GB/s without exhausting the memory behind them (a slice of a larger socket), so "
                             "the claim that bandwidth runs out first is not tested here. Run it on more cores to see it.",
                             mem_all / mem1, cores, mem_all));
    else
      // The claim compares both loops, so it needs the CPUs during both.
      lesson.check_with_cpus(bench::had_cpus_for(bench::CpuShare::from_json(fma_share), cores) ? triad_share : fma_share,
                             cores, mem_all / mem1 < fma_all / fma1,
                             fmt::format("the memory-bound loop scaled less than the compute-bound one ({:.2f}x vs "
                                         "{:.2f}x): bandwidth runs out before cores do",
                                         mem_all / mem1, fma_all / fma1));
  }
  if (logical > cores)
    lesson.check(fma_smt <= 1.15 * fma_all,
                 fmt::format("SMT siblings added less than 15% to the compute-bound loop ({:+.0f}%)",
                             100 * (fma_smt / fma_all - 1)));
  else if (!hidden.found && !hidden.unsettled)
    lesson.say("This machine has no SMT siblings, so the hyperthread check has nothing to measure.");
  return lesson.finish(fmt::format(
      "cores multiply compute ({:.2f}x on {}) but share the memory channels ({:.2f}x); hyperthreads share a core's "
      "FMA units and add nothing to FMA-bound work.",
      fma_all / fma1, cores, mem_all / mem1));
}

}  // namespace

int run_lesson_04(const LessonOptions& options) {
  LessonRun lesson(4, kTitle);
  const bench::ProbeSession session({.quick = options.quick, .cores = options.threads,
                                     .progress = lesson.progress_callback()});
  const bench::MachineInfo& m = session.machine;
  lesson.say(fmt::format("Topology ({}): {} package(s), {} physical cores, {} hardware threads ({} per core), {} NUMA "
                         "node(s).",
                         m.topology_source, m.packages, m.physical_cores, m.logical_cpus,
                         m.physical_cores > 0 ? m.logical_cpus / m.physical_cores : 1, m.numa_nodes));
  const bench::ProbeReport report = bench::find_probe("threads")->run(session.context);
  lesson.say(report.text());
  return lesson_04_checks(lesson, report.json);
}

int recheck_lesson_04(const StoredRun& stored) {
  LessonRun lesson(4, kTitle);
  lesson.say(stored.describe());
  return lesson_04_checks(lesson, stored.cpu_section("threads"));
}

}  // namespace flopslab::lessons
