// Lesson 01: peak FLOPS of a CPU. Measures FMA throughput for every ISA width and precision
// (the flops probe) and sets it against peak = cores x GHz x lanes x FMA pipes x 2.
#include <cmath>

#include <fmt/format.h>

#include "bench/probe.h"
#include "lessons/frame.h"

namespace flopslab::lessons {

int run_lesson_01(const LessonOptions& options) {
  LessonRun lesson(1, "Peak FLOPS of a CPU");
  const bench::ProbeSession session({.quick = options.quick, .cores = options.threads,
                                     .progress = lesson.progress_callback()});
  const bench::ProbeContext& ctx = session.context;
  lesson.say(fmt::format("{}: {} physical cores, {} hardware threads, SIMD: {}.", session.machine.cpu_brand, ctx.cores,
                         session.machine.logical_cpus, session.machine.simd_path));
  const bench::ProbeReport report = bench::find_probe("flops")->run(ctx);
  lesson.say(report.text());

  const Json& points = report.json["points"];
  const probes::FmaLoop& widest = probes::widest_fma_loop(probes::Precision::fp32);
  const probes::FmaLoop& widest64 = probes::widest_fma_loop(probes::Precision::fp64);
  auto best = [&](const char* loop, int threads) {
    return point_value(points, {{"loop", loop}, {"threads", threads}}, "gflops_best");
  };
  auto theory = [&](const char* loop, int threads) {
    return point_value(points, {{"loop", loop}, {"threads", threads}}, "theoretical_gflops");
  };
  const double one = best(widest.name, 1), all = best(widest.name, ctx.cores);
  const double scalar = best("scalar-fp32", 1), one64 = best(widest64.name, 1);
  const Json* with_peer = find_point(points, {{"loop", widest.name}, {"threads", 1}});
  const Json* with_all = find_point(points, {{"loop", widest.name}, {"threads", ctx.cores}});
  const double likwid = with_peer != nullptr && (*with_peer)["likwid"].contains("gflops")
                            ? (*with_peer)["likwid"]["gflops"].get<double>()
                            : std::nan("");
  const double median_one = point_value(points, {{"loop", widest.name}, {"threads", 1}}, "gflops_median");

  const std::string formula = "cores x GHz x lanes x FMA pipes x 2 (seed notes 000 §1, d2l)";
  lesson.compare(fmt::format("{} peak, one core (GFLOP/s)", widest.name), theory(widest.name, 1), formula, one, "");
  if (ctx.cores > 1)
    lesson.compare(fmt::format("{} peak, {} cores (GFLOP/s)", widest.name, ctx.cores), theory(widest.name, ctx.cores),
                   formula, all, "");
  lesson.compare(fmt::format("{} over scalar: SIMD lanes", widest.name), widest.lanes,
                 fmt::format("{} floats per {}-bit register", widest.lanes, widest.vector_bits), one / scalar, "x");
  lesson.compare("FP64 over FP32 throughput", 0.5, "half as many lanes per register", one64 / one, "x");

  // 85%: the clock is read by a scalar add chain before the FMA loops run, and a core may run
  // its widest vectors at a lower clock (Intel's AVX-512 licence levels; a VM's turbo moves too).
  lesson.check(one >= 0.85 * theory(widest.name, 1),
               fmt::format("one core reached at least 85% of its theoretical FP32 peak ({:.1f}%)",
                           100 * one / theory(widest.name, 1)));
  lesson.check(one / scalar >= 0.75 * widest.lanes,
               fmt::format("{} ran at least {:.0f}x the scalar loop ({:.1f}x)", widest.name, 0.75 * widest.lanes,
                           one / scalar));
  lesson.check(one64 / one > 0.4 && one64 / one < 0.6,
               fmt::format("FP64 ran at half the FP32 rate, within 10 points ({:.2f})", one64 / one));
  if (ctx.cores > 1)
    lesson.check_with_cpus(with_all != nullptr ? (*with_all)["cpu_share"] : Json(), ctx.cores,
                           all >= 0.8 * ctx.cores * one,
                           fmt::format("{} cores ran at least {:.1f}x one core ({:.2f}x)", ctx.cores, 0.8 * ctx.cores,
                                       all / one));
  if (std::isfinite(likwid))
    lesson.check(std::abs(median_one / likwid - 1) <= 0.05,
                 fmt::format("flopslab's one-core figure is within 5% of likwid-bench's ({:.1f} vs {:.1f} GFLOP/s)",
                             median_one, likwid));
  return lesson.finish(fmt::format(
      "a core's peak is a product you can compute: {:.2f} GHz x {} lanes x {} FMA pipes x 2 = {:.0f} GFLOP/s, and a "
      "loop with enough independent FMAs really reaches it; scalar code gets 1/{} of it.",
      ctx.clock.ghz_one_core, widest.lanes, int(std::lround(theory(widest.name, 1) / (ctx.clock.ghz_one_core * widest.lanes * 2))),
      theory(widest.name, 1), widest.lanes));
}

}  // namespace flopslab::lessons
