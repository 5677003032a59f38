// The race's summary on the roofline (see race_roofline.h).
#include "demo/race_roofline.h"

#include <set>

#include <fmt/format.h>

#include "bench/probes/stream_runner.h"
#include "harness/format.h"
#include "harness/machine/cpu_peak.h"
#include "harness/machine/gpu_runtime.h"
#include "kernels/cpu/probes/fma_chains.h"

namespace flopslab::bench {
namespace {

bool placeable(const Contestant& c, const LaneResult& lane) {
  return c.flops_per_call > 0 && c.bytes_per_call > 0 && lane.absent.empty() && lane.check.empty() && lane.calls > 0 &&
         lane.seconds > 0;
}

// Three arrays of 64 MiB: past any real last-level cache (a VM's "480 MiB L3" is not real).
constexpr std::int64_t kTriadElements = (std::int64_t(64) << 20) / 8;

}  // namespace

bool race_has_roofline(const Scene& scene, const RaceResult& result) {
  for (std::size_t i = 0; i < scene.contestants.size() && i < result.lanes.size(); ++i)
    if (placeable(scene.contestants[i], result.lanes[i])) return true;
  return false;
}

roofline::Roofs measure_race_roofs(const Scene& scene, const RaceResult& result) {
  std::set<int> cpu_threads, bf16_threads;
  bool gpu = false;
  for (std::size_t i = 0; i < scene.contestants.size() && i < result.lanes.size(); ++i) {
    const Contestant& c = scene.contestants[i];
    if (!placeable(c, result.lanes[i])) continue;
    if (c.device == "cpu") {
      cpu_threads.insert(c.threads);
      if (c.precision == "bf16") bf16_threads.insert(c.threads);
    } else {
      gpu = true;
    }
  }
  roofline::Roofs roofs;
  const probes::FmaLoop& loop = probes::widest_fma_loop(probes::Precision::fp32);
  const probes::StreamKernel* triad = probes::find_stream_kernel("triad");
  for (int t : cpu_threads) {
    const PeakMeasurement peak = measure_fma_peak(loop, t, quick_timing());
    roofs.add({.name = std::string(loop.isa) + " fp32", .precision = "fp32", .threads = t, .value = peak.gflops(),
               .source = fmt::format("{} just after the race, fastest call", probes::loop_label(loop))});
    // A bf16 contestant's roof: the widest bf16 loop here (AMX's TDPBF16PS chain where present).
    if (const probes::FmaLoop& bf16 = probes::widest_fma_loop(probes::Precision::bf16);
        bf16_threads.count(t) && bf16.supported()) {
      const PeakMeasurement bf16_peak = measure_fma_peak(bf16, t, quick_timing());
      roofs.add({.name = std::string(bf16.isa) + " bf16", .precision = "bf16", .threads = t, .value = bf16_peak.gflops(),
                 .source = fmt::format("{} just after the race, fastest call", probes::loop_label(bf16))});
    }
    const StreamArrays arrays(kTriadElements, t);
    const StreamResult r = measure_stream(*triad, arrays, kTriadElements, t, quick_timing());
    roofs.add({.name = "DRAM", .compute = false, .threads = t, .value = r.gbytes_per_s,
               .shared = true, .source = "STREAM triad over 192 MiB just after the race, median"});
  }
  if (gpu)
    if (const GpuStatus& status = gpu_status(); !status.devices.empty()) {
      const GpuPeaks peaks = gpu_peaks(status.devices[0]);
      roofs.add({.name = "GPU FP32 (from its clocks)", .precision = "fp32", .device = "cuda", .value = peaks.fp32_gflops,
                 .source = peaks.fp32_formula});
      roofs.add({.name = "GPU memory (from its clocks)", .compute = false, .device = "cuda",
                 .value = peaks.memory_gbytes_per_s, .source = peaks.memory_formula});
      if (peaks.pcie_gbytes_per_s > 0)
        roofs.add({.name = "host link (rated)", .compute = false, .device = "cuda", .value = peaks.pcie_gbytes_per_s,
                   .host_link = true, .source = peaks.pcie_formula});
    }
  return roofs;
}

roofline::Roofline race_roofline(const Scene& scene, const RaceResult& result, const roofline::Roofs& roofs) {
  roofline::Roofline out{.roofs = roofs};
  for (std::size_t i = 0; i < scene.contestants.size() && i < result.lanes.size(); ++i) {
    const Contestant& c = scene.contestants[i];
    const LaneResult& lane = result.lanes[i];
    if (!placeable(c, lane)) continue;
    const roofline::Point p{.name = c.name,
                            .family = c.device + " race " + scene.name,
                            .order = int(i),
                            .kind = scene.name == "train" ? "step" : "gemm",
                            .precision = c.precision,
                            .device = c.device,
                            .threads = c.threads,
                            .flops = c.flops_per_call,
                            .bytes = c.bytes_per_call,
                            .seconds = lane.seconds / double(lane.calls),
                            .working_set = c.working_set,
                            .link_bytes = c.link_bytes_per_call};
    out.placements.push_back(roofline::place(p, out.roofs));
  }
  return out;
}

std::string race_roofline_summary(const roofline::Roofline& r) {
  std::string out = "On the roofline (peak FMA rate and DRAM bandwidth of the device each ran on; FLOPs per "
                    "compulsory byte):\n";
  for (const roofline::Placement& p : r.placements) {
    const roofline::Point& pt = p.point;
    const std::string where = pt.device == "cpu" ? fmt::format("{} thread{}", pt.threads, pt.threads == 1 ? "" : "s")
                                                 : std::string("GPU");
    if (!p.not_placed.empty()) {
      out += fmt::format("  {} ({}): {}\n", pt.name, where, p.not_placed);
      continue;
    }
    out += fmt::format("  {} ({}): {:.3g} FLOP/byte, {:.4g} GFLOP/s, {} of the {}{}\n", pt.name, where, pt.intensity(),
                       pt.gflops(), format_percent(p.fraction), p.bound_name(),
                       p.above_roof ? "  ABOVE ITS ROOF: a count or a roof is wrong" : "");
  }
  return out;
}

}  // namespace flopslab::bench
