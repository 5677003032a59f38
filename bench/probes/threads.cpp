// Probe "threads": a compute-bound loop (FMA chains) and a memory-bound loop (STREAM triad on
// a DRAM-sized working set) on 1..N threads, pinned one per core first and then onto the SMT
// siblings. Compute scales with cores and not with hyperthreads; bandwidth flattens once the
// memory channels are busy.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "harness/affinity.h"
#include "harness/machine/cpu_peak.h"
#include "harness/cpu_share.h"
#include "harness/files.h"
#include "bench/probes/probe.h"
#include "bench/probes/stream_runner.h"
#include "harness/format.h"

namespace flopslab::bench {

std::vector<int> thread_steps(int cores, int logical) {
  std::vector<int> steps;
  for (int t = 1; t <= logical; t = t < 4 ? t + 1 : t + std::max(1, t / 4)) steps.push_back(t);
  for (int t : {cores, logical})
    if (std::find(steps.begin(), steps.end(), t) == steps.end()) steps.push_back(t);
  std::sort(steps.begin(), steps.end());
  return steps;
}

ProbeReport run_threads_probe(const ProbeContext& ctx) {
  ProbeReport report("threads", "Threads and SMT (lesson 04)");
  const int cores = ctx.cores, logical = std::max(ctx.machine.logical_cpus, cores);
  const std::vector<int> steps = thread_steps(cores, logical);
  const probes::FmaLoop& loop = probes::widest_fma_loop(probes::Precision::fp32);

  std::int64_t llc = 0;
  for (int level = 1; level <= 4; ++level) llc = std::max(llc, cache_bytes(ctx.machine, level));
  const double set = double(std::min<std::int64_t>(ctx.max_bytes, std::max<std::int64_t>(4 * llc, 256 << 20)));
  const std::int64_t n = std::int64_t(set / 24) / 64 * 64;
  ctx.step(fmt::format("threads: allocating the triad's 3 x {}", format_bytes(double(n) * 8)));
  StreamArrays arrays(n, logical);
  const probes::StreamKernel& triad = *probes::find_stream_kernel("triad");
  TimingOptions timing = ctx.timing;
  timing.max_time_s = std::min(timing.max_time_s, ctx.quick ? 0.1 : 0.5);

  struct Step {
    int threads;
    double gflops, gbps;
    CpuShare compute_share, memory_share;
  };
  std::vector<Step> results;
  for (int t : steps) {
    ctx.step(fmt::format("threads: {} thread{}", t, t == 1 ? "" : "s"));
    // The all-core and all-thread steps are what the scaling claims compare: long enough for
    // the CPU-share meter to tell whether the cores were there.
    const TimingOptions step_timing = t == cores || t == logical ? share_timing(timing) : timing;
    const CpuShareMeter compute_meter;
    const PeakMeasurement compute = measure_fma_peak(loop, t, step_timing);
    const CpuShare compute_share = compute_meter.stop();
    const CpuShareMeter memory_meter;
    const StreamResult memory = measure_stream(triad, arrays, n, t, step_timing);
    results.push_back({t, compute.gflops(), memory.gbytes_per_s, compute_share, memory_meter.stop()});
  }

  const Step& one = results.front();
  using A = Table::Align;
  Table table({{"threads"}, {"placed on", A::left}, {"FMA GFLOP/s"}, {"speed-up"}, {"triad GB/s"}, {"speed-up"}});
  Json points = Json::array();
  for (const Step& s : results) {
    const std::string placed = s.threads <= cores ? fmt::format("{} core{}", s.threads, s.threads == 1 ? "" : "s")
                                                  : fmt::format("{} cores + {} SMT sibling{}", cores, s.threads - cores,
                                                                s.threads - cores == 1 ? "" : "s");
    table.add_row({std::to_string(s.threads), placed, fmt::format("{:.0f}", s.gflops),
                   fmt::format("{:.2f}x", s.gflops / one.gflops), fmt::format("{:.1f}", s.gbps),
                   fmt::format("{:.2f}x", s.gbps / one.gbps)});
    points.push_back({{"threads", s.threads}, {"smt", s.threads > cores}, {"fma_gflops", s.gflops},
                      {"triad_gbytes_per_s", s.gbps}, {"fma_cpu_share", s.compute_share.to_json()},
                      {"triad_cpu_share", s.memory_share.to_json()}});
  }
  auto at = [&](int threads) {
    for (const Step& s : results)
      if (s.threads == threads) return s;
    return results.back();
  };
  const Step all_cores = at(cores);
  double best_gbps = 0;
  for (const Step& s : results) best_gbps = std::max(best_gbps, s.gbps);
  int saturation = results.back().threads;
  for (const Step& s : results)
    if (s.gbps >= 0.9 * best_gbps) {
      saturation = s.threads;
      break;
    }

  report.say(fmt::format(
      "Compute-bound: the {} (registers only). Memory-bound: STREAM triad over {} (3 arrays), beyond the "
      "caches. Threads are pinned to one hardware thread per core first ({} cores), then to SMT siblings ({} hardware "
      "threads in all).",
      probes::loop_label(loop), format_bytes(double(n) * 24), cores, logical));
  report.table(std::move(table));
  report.say(fmt::format("On {} cores the compute loop ran {:.2f}x faster than on one (ideal {}x); triad bandwidth grew "
                         "{:.2f}x and reached 90% of its maximum at {} thread{}.",
                         cores, all_cores.gflops / one.gflops, cores, all_cores.gbps / one.gbps, saturation,
                         saturation == 1 ? "" : "s"));
  if (logical > cores)
    report.say(fmt::format("SMT: with every sibling busy ({} threads) the compute loop reached {:.2f}x its all-core "
                           "figure: hyperthreads share their core's arithmetic pipes.",
                           logical, results.back().gflops / all_cores.gflops));
  else
    report.say("No SMT siblings here (one hardware thread per core), so the hyperthread half of the experiment has "
               "nothing to run on.");
  report.chart("threads.png", "Thread scaling of a compute-bound and a memory-bound loop");
  report.json = Json{{"cores", cores}, {"logical_cpus", logical}, {"fma_loop", loop.name},
                     {"triad_bytes", double(n) * 24}, {"saturation_threads", saturation}, {"points", points}};
  return report;
}

}  // namespace flopslab::bench
