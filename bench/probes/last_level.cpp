// Measuring the last cache level's boundary (see last_level.h).
#include "bench/probes/last_level.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "harness/format.h"
#include "harness/machine/levels.h"
#include "harness/memory.h"
#include "harness/timing.h"
#include "kernels/cpu/gemm/packed.h"
#include "kernels/cpu/probes/pointer_chase.h"

namespace flopslab::bench {

LastLevelMeasurement measure_last_cache_boundary(std::int64_t from_bytes, std::int64_t to_bytes) {
  HugeBuffer buffer(to_bytes);
  std::vector<CurvePoint> curve;
  TimingOptions timing = quick_timing();
  for (double bytes = double(from_bytes); bytes <= double(to_bytes); bytes *= std::sqrt(2.0)) {
    const std::int64_t lines = std::max<std::int64_t>(2, std::int64_t(bytes) / probes::kLineBytes);
    void* p = probes::link_random_cycle(buffer.data(), lines, /*seed=*/lines);
    p = probes::chase(p, lines);  // bring the set into the caches it fits
    const std::int64_t steps = 1 << 18;
    const Timing t = measure([&] { p = probes::chase(p, steps); }, timing);
    curve.push_back({double(lines * probes::kLineBytes), t.median / double(steps) * 1e9});
  }
  const Levels levels = find_levels(curve);
  const std::vector<std::string> names = level_names(levels);
  LastLevelMeasurement out;
  for (std::size_t k = 1; k < names.size() && k - 1 < levels.boundaries.size(); ++k)
    if (names[k].rfind("DRAM", 0) == 0) {
      out.boundary_bytes = std::int64_t(levels.boundaries[k - 1].bytes);
      out.cache_ns = levels.plateaus[k - 1].latency, out.dram_ns = levels.plateaus[k].latency;
      break;
    }
  return out;
}

std::string size_gemm_blocks_from_measured_caches() {
  static const std::string said = [] {
    const gemm::packed::CacheGeometries& caches = gemm::packed::cache_geometries();
    if (!gemm::packed::last_level_implausible(caches)) return std::string();
    const std::int64_t reported = caches.level[2].bytes, sharing = caches.l3_shared_by;
    const LastLevelMeasurement m = measure_last_cache_boundary(caches.level[1].bytes, std::int64_t(256) << 20);
    const std::string what = fmt::format("the OS reports an L3 of {} shared by {} CPU{}, {} per CPU, more than any CPU "
                                         "has",
                                         format_bytes(double(reported)), sharing, sharing == 1 ? "" : "s",
                                         format_bytes(double(reported) / double(sharing)));
    if (m.boundary_bytes <= caches.level[1].bytes)
      return what + "; pointer chasing found no last-level boundary below 256 MiB, so the blocks keep the OS's figure.";
    gemm::packed::use_measured_last_level(
        m.boundary_bytes, fmt::format("measured: the last cache boundary by pointer chasing, {:.1f} ns then {:.1f} ns beyond it",
                                      m.cache_ns, m.dram_ns));
    return fmt::format("The GEMM blocks use the last cache level measured by pointer chasing, {} ({}).",
                       format_bytes(double(m.boundary_bytes)), what);
  }();
  return said;
}

}  // namespace flopslab::bench
