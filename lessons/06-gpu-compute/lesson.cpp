// Lesson 06: how a GPU computes. Peak FLOPS and bandwidth against the formulas, how many
// threads it takes, what divergent branches cost, what launches and syncs cost. Without a GPU
// it says so and measures the CPU side of the comparison.
#include <cmath>

#include <fmt/format.h>

#include "harness/machine/gpu_runtime.h"
#include "bench/probes/probe.h"
#include "lessons/frame.h"
#include "lessons/report_data.h"

namespace flopslab::lessons {

int run_lesson_06(const LessonOptions& options) {
  LessonRun lesson(6, "How a GPU computes");
  const bench::ProbeSession session({.quick = options.quick, .cores = options.threads, .progress = lesson.progress_callback()});
  const bench::ProbeReport cpu = bench::find_probe("flops")->run(session.context);
  const probes::FmaLoop& widest = probes::widest_fma_loop(probes::Precision::fp32);
  const double cpu_all = point_value(cpu.json["points"], {{"loop", widest.name}, {"threads", session.context.cores}}, "gflops_best");
  const bench::GpuStatus& gpu = bench::gpu_status();
  if (!gpu.usable) {
    lesson.say(fmt::format("No usable GPU here ({}), so this runs the CPU half: the figure a GPU is compared with.",
                           gpu.reason));
    lesson.say(cpu.text());
    lesson.check(cpu_all > 0, fmt::format("measured the CPU's FP32 peak on all cores: {:.0f} GFLOP/s", cpu_all));
    return lesson.finish("the CPU side measured; run this on a machine with an NVIDIA GPU for the comparison.");
  }
  const bench::ProbeContext& ctx = session.context;
  const Json flops = bench::find_probe("gpu-flops")->run(ctx).json;
  const bench::ProbeReport bandwidth = bench::find_probe("gpu-bandwidth")->run(ctx);
  const bench::ProbeReport threads = bench::find_probe("gpu-threads")->run(ctx);
  const bench::ProbeReport divergence = bench::find_probe("gpu-divergence")->run(ctx);
  const bench::ProbeReport launch = bench::find_probe("gpu-launch")->run(ctx);
  for (const bench::ProbeReport* r : {&bandwidth, &threads, &divergence, &launch}) lesson.say(r->text());

  const double gpu_best = flops["gflops_best"].get<double>(), gpu_theory = flops["theoretical_gflops"].get<double>();
  double triad = 0;
  for (const Json& p : bandwidth.json["points"])
    if (p["test"] == "triad, 4 floats per access") triad = p["gbytes_per_s"].get<double>();
  const double hbm = bandwidth.json["theoretical_gbytes_per_s"].get<double>();
  const Json& tp = threads.json["points"];
  const double one_warp = point_value(tp, {{"threads", 32}}, "fma_gflops");
  double full = 0;
  for (const Json& p : tp) full = std::max(full, p["fma_gflops"].get<double>());
  const Json& dp = divergence.json["points"];
  const double by_warp = dp[1]["slowdown"].get<double>(), by_parity = dp[2]["slowdown"].get<double>(),
               by_lane = dp[3]["slowdown"].get<double>();
  const Json& lj = launch.json;

  lesson.compare("GPU FP32 peak (GFLOP/s)", gpu_theory, "SMs x lanes x 2 x clock", gpu_best, "");
  lesson.compare("GPU over all CPU cores, FP32", gpu_theory / cpu_all, "theoretical GPU over measured CPU peak",
                 gpu_best / cpu_all, "x");
  if (hbm > 0) lesson.compare("HBM triad (GB/s)", hbm, "bus bits / 8 x 2 x memory clock", triad, "");
  lesson.compare("kernel launch (µs)", 10, "d2l", lj["launch_throughput_us"].get<double>(), "");
  lesson.compare("two-way divergent warp, slowdown", 2, "both paths run in turn", by_parity, "x");
  lesson.compare("32-way divergent warp, slowdown", 32, "every lane its own path", by_lane, "x");

  lesson.check(gpu_best >= 0.8 * gpu_theory, fmt::format("FMA chains reached at least 80% of the theoretical FP32 peak "
                                                         "({:.0f}%)", 100 * gpu_best / gpu_theory));
  if (hbm > 0)
    lesson.check(triad >= 0.7 * hbm, fmt::format("the float4 triad reached at least 70% of the theoretical memory "
                                                 "bandwidth ({:.0f}%)", 100 * triad / hbm));
  lesson.check(one_warp < 0.01 * full, fmt::format("one warp got less than 1% of the full GPU's FMA throughput ({:.3f}%)",
                                                   100 * one_warp / full));
  lesson.check(by_warp < 1.2, fmt::format("branching on the warp index cost less than 20% ({:.2f}x)", by_warp));
  lesson.check(by_parity > 1.4, fmt::format("branching on the lane parity cost at least 1.4x ({:.2f}x)", by_parity));
  lesson.check(by_lane > 8, fmt::format("32 paths in a warp cost at least 8x ({:.1f}x)", by_lane));
  lesson.check(lj["timers"]["host_no_sync_us"].get<double>() < 0.5 * lj["timers"]["events_us"].get<double>(),
               "the unsynchronised host timer reported less than half the kernel's real time (the trap)");
  return lesson.finish(fmt::format(
      "the GPU has {:.0f}x the CPU's FP32 throughput, but only with tens of thousands of threads, uniform branches, "
      "and work big enough to hide a {:.1f} µs launch.",
      gpu_best / cpu_all, lj["launch_throughput_us"].get<double>()));
}

}  // namespace flopslab::lessons
