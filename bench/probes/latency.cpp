// Probe "latency": time per dependent load through a random cycle of cache lines, for working
// sets from 1 KiB to at least 1 GiB in quarter-octave steps. The staircase it draws is the
// memory hierarchy; its steps are found from the curve (levels.h) and set next to hwloc's
// cache sizes and the textbook latencies.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "harness/counters.h"
#include "harness/files.h"
#include "harness/machine/levels.h"
#include "harness/memory.h"
#include "bench/probes/probe.h"
#include "kernels/cpu/probes/pointer_chase.h"
#include "harness/format.h"

namespace flopslab::bench {
namespace {

struct Textbook {
  const char* level;
  double year2010_ns;  // "latency numbers every programmer should know" (2010)
  double d2l_low_ns, d2l_high_ns;  // Dive into Deep Learning, hardware chapter
};
// 0 = the source gives no figure for that level.
constexpr Textbook kTextbook[] = {
    {"L1", 0.5, 1.5, 1.5}, {"L2", 7, 5, 5}, {"L3", 0, 16, 16}, {"DRAM", 100, 46, 75}};

const Textbook* textbook_for(const std::string& level) {
  for (const Textbook& t : kTextbook)
    if (level == t.level) return &t;
  return nullptr;
}

std::string ns(double v) { return v <= 0 ? "-" : v < 10 ? fmt::format("{:.2f}", v) : fmt::format("{:.1f}", v); }

}  // namespace

ProbeReport run_latency_probe(const ProbeContext& ctx) {
  ProbeReport report("latency", "Memory latency (lesson 02)");
  // Four working sets per octave in quick mode too: with two, one disturbed point beside a
  // level's edge moves the boundary found by a factor of 1.4 or more.
  const int steps_per_octave = 4;
  const std::int64_t max_bytes = std::max<std::int64_t>(ctx.max_bytes, 64 << 10);

  ctx.step(fmt::format("latency: allocating {} (asking for huge pages)", format_bytes(double(max_bytes))));
  HugeBuffer buffer(max_bytes);
  const std::int64_t huge = buffer.huge_page_bytes();

  // Fine steps where the caches are; beyond twice the largest cache (DRAM) half as many.
  std::int64_t largest_cache_bytes = 0;
  for (int level = 1; level <= 4; ++level) largest_cache_bytes = std::max(largest_cache_bytes, cache_bytes(ctx.machine, level));
  const double dram_from = std::max(2.0 * double(largest_cache_bytes), 64.0 * (1 << 20));
  std::vector<double> sizes;
  for (int i = 0;; ++i) {
    const double bytes = std::floor(1024.0 * std::pow(2.0, double(i) / steps_per_octave) / 64) * 64;
    if (bytes > double(max_bytes)) break;
    if (bytes > dram_from && i % 2 == 1) continue;
    if (sizes.empty() || bytes > sizes.back()) sizes.push_back(bytes);
  }

  Counters& counters = Counters::instance();
  TimingOptions timing = ctx.timing;
  timing.min_time_s = std::min(timing.min_time_s, 0.1);
  timing.max_time_s = std::min(timing.max_time_s, ctx.quick ? 0.05 : 0.4);
  std::vector<CurvePoint> curve;
  Json points = Json::array();
  for (double bytes : sizes) {
    const std::int64_t lines = std::max<std::int64_t>(2, std::int64_t(bytes) / probes::kLineBytes);
    ctx.step(fmt::format("latency: working set {}", format_bytes(bytes)));
    void* p = probes::link_random_cycle(buffer.data(), lines, /*seed=*/lines);
    if (bytes <= dram_from) p = probes::chase(p, lines);  // bring the set into the caches it fits
    // Enough loads that even L1 hits take ~0.1 ms per call; a DRAM-sized set needs no more
    // than half a million to average out.
    const std::int64_t steps = std::clamp<std::int64_t>(2 * lines, 1 << 17, 1 << 19);
    const Timing t = measure([&] { p = probes::chase(p, steps); }, timing);
    const double ns_per_load = t.median / double(steps) * 1e9;
    curve.push_back({bytes, ns_per_load});
    Json point{{"bytes", bytes}, {"ns", ns_per_load}, {"cycles", ns_per_load * ctx.clock.ghz_one_core},
               {"spread", t.spread()}, {"loads_per_call", steps}};
    if (const auto c = counters.count([&] { p = probes::chase(p, steps); }))
      point["per_load"] = {{"cycles", c->cycles / steps}, {"l1d_misses", c->l1d_misses / steps},
                           {"llc_misses", c->llc_misses / steps}};
    points.push_back(point);
  }

  const Levels levels = find_levels(curve);
  std::vector<std::pair<int, std::int64_t>> caches;  // level, bytes (data or unified)
  for (int level = 1; level <= 4; ++level)
    if (const std::int64_t b = cache_bytes(ctx.machine, level)) caches.emplace_back(level, b);
  const std::vector<std::string> names = level_names(levels);

  using A = Table::Align;
  Table table({{"level", A::left}, {"hwloc size", A::left}, {"boundary found", A::left}, {"found / hwloc"},
               {"latency ns"}, {"cycles"}, {"2010 list ns"}, {"d2l ns"}, {"measured / d2l"}});
  Json level_json = Json::array();
  std::vector<std::string> short_levels;  // found boundaries well below hwloc's sizes
  for (std::size_t k = 0; k < levels.plateaus.size(); ++k) {
    const Plateau& plateau = levels.plateaus[k];
    const std::string& name = names[k];
    const bool is_dram = name.rfind("DRAM", 0) == 0;
    std::string hwloc = "-", found = "-", ratio = "-";
    double hwloc_bytes = 0, found_bytes = 0;
    if (!is_dram && k < caches.size()) hwloc_bytes = double(caches[k].second), hwloc = format_bytes(hwloc_bytes);
    if (!is_dram && k < levels.boundaries.size()) found_bytes = levels.boundaries[k].bytes, found = format_bytes(found_bytes);
    if (hwloc_bytes > 0 && found_bytes > 0) ratio = fmt::format("{:.2f}", found_bytes / hwloc_bytes);
    if (hwloc_bytes > 0 && found_bytes > 0 && found_bytes < 0.5 * hwloc_bytes)
      short_levels.push_back(fmt::format("{} at {} against hwloc's {} ({:.2f}x)", name, found, hwloc, found_bytes / hwloc_bytes));
    const Textbook* book = name == "DRAM" || !is_dram ? textbook_for(name) : nullptr;
    const double d2l_mid = book != nullptr ? 0.5 * (book->d2l_low_ns + book->d2l_high_ns) : 0;
    table.add_row({name, hwloc, found, ratio, ns(plateau.latency), fmt::format("{:.0f}", plateau.latency * ctx.clock.ghz_one_core),
                   book != nullptr ? ns(book->year2010_ns) : "-",
                   book == nullptr ? "-" : book->d2l_low_ns == book->d2l_high_ns ? ns(book->d2l_low_ns)
                                                       : fmt::format("{:.0f}-{:.0f}", book->d2l_low_ns, book->d2l_high_ns),
                   d2l_mid > 0 ? fmt::format("{:.2f}", plateau.latency / d2l_mid) : "-"});
    level_json.push_back({{"level", name}, {"latency_ns", plateau.latency}, {"hwloc_bytes", hwloc_bytes},
                          {"boundary_bytes", found_bytes}, {"first_bytes", curve[plateau.first].bytes},
                          {"last_bytes", curve[plateau.last].bytes}});
  }

  report.say(fmt::format(
      "One random cycle through all 64-byte lines of the working set; each load's address comes from the previous "
      "load, so loads cannot overlap and prefetchers cannot guess. {} working sets from 1 KiB to {} ({} per octave). "
      "Huge pages: {} (transparent huge pages: '{}'). Cycles use the measured {:.2f} GHz.",
      curve.size(), format_bytes(double(max_bytes)), steps_per_octave,
      huge < 0 ? std::string("unknown (the kernel does not report AnonHugePages)")
               : huge >= buffer.bytes() * 9 / 10 ? fmt::format("yes, {} of the buffer", format_bytes(double(huge)))
               : huge > 0 ? fmt::format("partly, {} of {}", format_bytes(double(huge)), format_bytes(double(buffer.bytes())))
                          : std::string("no, 4 KiB pages only (TLB misses add to the large working sets)"),
      transparent_huge_page_mode(), ctx.clock.ghz_one_core));
  report.say("Levels found from the curve: a plateau is a run of working sets with nearly the same latency; its "
             "boundary is the last working set before the latency climbs 15% of the way to the next plateau.");
  report.table(std::move(table));
  if (levels.plateaus.size() < caches.size() + 1)
    report.say(fmt::format("Found {} plateaus for {} cache levels plus DRAM: neighbouring levels with latencies "
                           "closer than 1.3x, or a working-set range too short to show DRAM, merge into one.",
                           levels.plateaus.size(), caches.size()));
  if (!short_levels.empty())
    report.say(fmt::format(
        "The curve leaves {} early. What the probe can tell: the working set at which one thread's dependent loads "
        "start missing. What it cannot: why. hwloc reports the cache the CPU describes. A shared cache's useful "
        "share for one thread can be smaller: in a VM the host may give this guest only part of an L3 (one CCD's "
        "slice, or less while other tenants run); other cores' data takes room; replacement is not perfect LRU, so "
        "a random cycle starts missing before the set is full; and 4 KiB pages map the set onto cache sets "
        "unevenly, which huge pages avoid.",
        fmt::join(short_levels, ", ")));
  report.say("Textbook: the 2010 \"latency numbers every programmer should know\" (L1 0.5 ns, L2 7 ns, DRAM 100 ns) "
             "and the d2l.ai hardware table (L1 1.5 ns, L2 5 ns, L3 16 ns, DRAM 46-75 ns).");
  report.chart("latency.png", "Latency staircase: ns per load against working set");

  // The curve itself, two points per octave, for the terminal.
  Table curve_table({{"working set", A::left}, {"ns per load"}, {"cycles"}});
  for (std::size_t i = 0; i < curve.size(); i += static_cast<std::size_t>(std::max(1, steps_per_octave / 2)))
    curve_table.add_row({format_bytes(curve[i].bytes), ns(curve[i].latency),
                         fmt::format("{:.1f}", curve[i].latency * ctx.clock.ghz_one_core)});
  report.table(std::move(curve_table));

  Json caches_json = Json::array();
  for (const auto& [level, bytes] : caches) caches_json.push_back({{"level", level}, {"bytes", bytes}});
  report.json = Json{{"max_bytes", max_bytes},
                     {"huge_page_bytes", huge},
                     {"thp_mode", transparent_huge_page_mode()},
                     {"ghz", ctx.clock.ghz_one_core},
                     {"hwloc_caches", caches_json},
                     {"levels", level_json},
                     {"textbook", {{"2010", {{"L1", 0.5}, {"L2", 7}, {"DRAM", 100}}},
                                   {"d2l", {{"L1", 1.5}, {"L2", 5}, {"L3", 16}, {"DRAM_low", 46}, {"DRAM_high", 75}}}}},
                     {"counters", counters.available() ? Json("perf_event") : Json(counters.reason())},
                     {"points", points}};
  return report;
}

}  // namespace flopslab::bench
