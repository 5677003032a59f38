// Lesson 01: peak FLOPS of a CPU. Measures FMA throughput for every ISA width and precision
// (the flops probe) and sets it against peak = cores x GHz x lanes x FMA pipes x 2.
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "bench/probes/probe.h"
#include "harness/format.h"
#include "lessons/frame.h"
#include "lessons/report_data.h"

namespace flopslab::lessons {

namespace {

const char kTitle[] = "Peak FLOPS of a CPU";

// The widest FP32 FMA loop the data has (the probe runs every loop this CPU supports).
const Json* widest_fp32(const Json& points) {
  const Json* widest = nullptr;
  for (const Json& p : points)
    if (p.value("precision", "") == "fp32" && p.value("threads", 0) == 1 &&
        (widest == nullptr || p.value("lanes", 0) > widest->value("lanes", 0)))
      widest = &p;
  return widest;
}

// The checks, on the flops probe's JSON: this run's, or a stored report's. `threads` is the
// threads probe's curve where the data has one (a stored report): it shows whether the
// reported cores are cores (find_hidden_smt).
int lesson_01_checks(LessonRun& lesson, const Json& flops, const Json& threads = Json()) {
  const Json& points = flops["points"];
  const int cores = flops.value("cores", 1);
  const double ghz = flops.value("clock_ghz_one_core", 0.0);
  const Json* widest = widest_fp32(points);
  if (widest == nullptr) throw std::runtime_error("the flops data has no one-thread FP32 loop");
  const std::string widest_name = (*widest)["loop"].get<std::string>();
  const int lanes = (*widest)["lanes"].get<int>();
  const std::string widest64 = widest_name.substr(0, widest_name.rfind("-fp32")) + "-fp64";
  auto value = [&](const std::string& loop, int threads, const char* field) {
    return point_value(points, {{"loop", loop}, {"threads", threads}}, field);
  };
  const double one = value(widest_name, 1, "gflops_best"), all = value(widest_name, cores, "gflops_best");
  const double scalar = value("scalar-fp32", 1, "gflops_best"), one64 = value(widest64, 1, "gflops_best");
  const double theory1 = value(widest_name, 1, "theoretical_gflops");
  // What SIMD should buy over scalar: the lanes, times the pipes the wide instructions have
  // over the scalar ones (Zen 4 runs a 512-bit FMA on one pipe, two 256-bit halves: 16 x 1/2).
  const double simd_expected = theory1 / value("scalar-fp32", 1, "theoretical_gflops");
  const bool fused = (*widest).value("operation", "FMA") == "FMA";
  const Json* with_all = find_point(points, {{"loop", widest_name}, {"threads", cores}});
  const double likwid = (*widest)["likwid"].contains("gflops") ? (*widest)["likwid"]["gflops"].get<double>() : std::nan("");
  const double median_one = value(widest_name, 1, "gflops_median");

  const std::string formula = fmt::format("cores x GHz x lanes x {} x 2 (seed notes 000 §1, d2l)",
                                          fused ? "FMA pipes" : "multiply+add pipe pairs");
  lesson.compare(fmt::format("{} peak, one core (GFLOP/s)", widest_name), theory1, formula, one, "");
  if (cores > 1)
    lesson.compare(fmt::format("{} peak, {} cores (GFLOP/s)", widest_name, cores),
                   value(widest_name, cores, "theoretical_gflops"), formula, all, "");
  const std::string pipe_ratio = std::abs(simd_expected / lanes - 1) < 0.01 ? ""
                                 : fmt::format(" x {:.2g} as many pipes for them", simd_expected / lanes);
  lesson.compare(fmt::format("{} over scalar", widest_name), simd_expected,
                 fmt::format("{} floats per {}-bit register{}", lanes, 32 * lanes, pipe_ratio), one / scalar, "x");
  lesson.compare("FP64 over FP32 throughput", 0.5, "half as many lanes per register", one64 / one, "x");

  // 85%: the clock is read by a scalar add chain before the FMA loops run, and a core may run
  // its widest vectors at a lower clock (Intel's AVX-512 licence levels; a VM's turbo moves too).
  lesson.check(one >= 0.85 * theory1,
               fmt::format("one core reached at least 85% of its theoretical FP32 peak ({:.1f}%)", 100 * one / theory1));
  lesson.check(one / scalar >= 0.75 * simd_expected,
               fmt::format("{} ran at least {:.0f}x the scalar loop ({:.1f}x)", widest_name, 0.75 * simd_expected,
                           one / scalar));
  lesson.check(one64 / one > 0.4 && one64 / one < 0.6,
               fmt::format("FP64 ran at half the FP32 rate, within 10 points ({:.2f})", one64 / one));
  const HiddenSmt hidden = threads.is_object() ? find_hidden_smt(threads) : HiddenSmt{};
  if (hidden.found) {
    lesson.say("\nFrom the same report's thread curve (lesson 04): " + hidden.finding);
    lesson.check(all >= 0.8 * hidden.cores * one,
                 fmt::format("{} threads on the {} the {} shows ran at least {:.1f}x one core ({:.2f}x)", cores,
                             bench::plural(hidden.cores, "core"), hidden.evidence,
                             0.8 * hidden.cores, all / one));
  } else if (cores > 1) {
    lesson.check_with_cpus(with_all != nullptr && with_all->contains("cpu_share") ? (*with_all)["cpu_share"] : Json(),
                           cores, all >= 0.8 * cores * one,
                           fmt::format("{} cores ran at least {:.1f}x one core ({:.2f}x{})", cores, 0.8 * cores, all / one,
                                       all < 0.6 * cores * one && all >= 0.4 * cores * one
                                           ? "; about half: a hypervisor may present each core's two hardware threads as "
                                             "two cores, and lesson 04's curve shows where scaling stops"
                                           : ""));
  }
  if (std::isfinite(likwid))
    lesson.check(std::abs(median_one / likwid - 1) <= 0.05,
                 fmt::format("flopslab's one-core figure is within 5% of likwid-bench's ({:.1f} vs {:.1f} GFLOP/s)",
                             median_one, likwid));
  const int pipes = ghz > 0 ? int(std::lround(theory1 / (ghz * lanes * 2))) : 0;
  return lesson.finish(fmt::format(
      "a core's peak is a product you can compute: {:.2f} GHz x {} lanes x {} {} x 2 = {:.0f} GFLOP/s, and a "
      "loop with enough independent {} really reaches it; scalar code gets 1/{:.0f} of it.",
      ghz, lanes, pipes, fused ? "FMA pipes" : "multiply+add pipe pairs", theory1,
      fused ? "FMAs" : "multiplies and adds", simd_expected));
}

}  // namespace

int run_lesson_01(const LessonOptions& options) {
  LessonRun lesson(1, kTitle);
  const bench::ProbeSession session({.quick = options.quick, .cores = options.threads,
                                     .progress = lesson.progress_callback()});
  lesson.say(fmt::format("{}: {} physical cores, {} hardware threads, SIMD: {}.", session.machine.cpu_brand,
                         session.context.cores, session.machine.logical_cpus, session.machine.simd_path));
  const bench::ProbeReport report = bench::find_probe("flops")->run(session.context);
  lesson.say(report.text());
  return lesson_01_checks(lesson, report.json);
}

int recheck_lesson_01(const StoredRun& stored) {
  LessonRun lesson(1, kTitle);
  lesson.say(stored.describe());
  return lesson_01_checks(lesson, stored.cpu_section("flops"),
                          stored.has_cpu_section("threads") ? stored.cpu_section("threads") : Json());
}

}  // namespace flopslab::lessons
