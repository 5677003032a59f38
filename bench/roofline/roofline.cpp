// The roofline model over a report's measurements (see roofline.h): the roofs read from the
// probes' sections, and placing a point under them.
#include "bench/roofline/roofline.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "bench/roofline/report_fields.h"
#include "harness/format.h"

namespace flopslab::bench::roofline {
namespace {

using namespace detail;

// Per-core extents of the cache levels: where the latency probe saw each level end (its
// measured boundary), else half of each cache hwloc reports (what the probes' tables use).
std::vector<std::pair<std::string, double>> level_extents(const Json& cpu) {
  std::vector<std::pair<std::string, double>> levels;
  for (const Json& l : list(member(cpu, "latency"), "levels")) {
    const std::string name = text(l, "level");
    const double last = number(l, "last_bytes");
    // "DRAM" and "DRAM, beyond TLB reach" (page walks on every load) are memory, not caches.
    if (name.empty() || name.rfind("DRAM", 0) == 0 || !(last > 0)) continue;
    levels.emplace_back(name, last);
  }
  if (levels.empty())
    for (const Json& c : list(member(cpu, "bandwidth"), "hwloc_caches"))
      if (number(c, "bytes") > 0) levels.emplace_back(fmt::format("L{}", number(c, "level")), number(c, "bytes") / 2);
  std::sort(levels.begin(), levels.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return levels;
}

// The level that holds `bytes` touched by `threads` threads: the private levels hold a
// thread's share, the last (shared) one everything. levels.size() is DRAM.
std::size_t level_of(const std::vector<std::pair<std::string, double>>& levels, double bytes, int threads) {
  for (std::size_t l = 0; l < levels.size(); ++l)
    if ((l + 1 == levels.size() ? bytes : bytes / threads) <= levels[l].second) return l;
  return levels.size();
}

void add_cpu_roofs(const Json& cpu, Roofs& roofs) {
  for (const Json& p : list(member(cpu, "flops"), "points")) {
    const double g = number(p, "gflops_best");
    if (!(g > 0)) continue;
    roofs.add({.name = text(p, "isa") + " " + text(p, "precision"),
               .compute = true,
               .precision = text(p, "precision"),
               .threads = int(number(p, "threads", 1)),
               .value = g,
               .source = fmt::format("flops probe, {} loop, best run", text(p, "loop"))});
  }
  // Memory: per cache level and thread count, the best of every STREAM kernel whose per-thread
  // working set lies in that level; DRAM's, as STREAM reports it, each kernel at its largest
  // working set when that is past the last cache (sets just past its edge still hit it in part).
  const std::vector<std::pair<std::string, double>> levels = level_extents(cpu);
  std::map<std::pair<int, std::size_t>, std::pair<double, std::string>> best;  // (threads, level) -> GB/s, what
  std::map<std::pair<int, std::string>, std::pair<double, double>> largest;    // (threads, kernel) -> bytes, GB/s
  for (const Json& p : list(member(cpu, "bandwidth"), "points")) {
    const int threads = int(number(p, "threads", 1));
    const double bytes = number(p, "bytes"), gbps = number(p, "gbytes_per_s");
    if (!(bytes > 0) || !(gbps > 0)) continue;
    auto& l = largest[{threads, text(p, "kernel")}];
    if (bytes >= l.first) l = {bytes, gbps};
    const std::size_t level = level_of(levels, bytes, threads);
    if (level == levels.size()) continue;
    auto& b = best[{threads, level}];
    if (gbps > b.first) b = {gbps, fmt::format("{} over {}", text(p, "kernel"), format_bytes(bytes))};
  }
  for (const auto& [key, b] : best)
    roofs.add({.name = levels[key.second].first,
               .compute = false,
               .threads = key.first,
               .value = b.first,
               .capacity_bytes = levels[key.second].second,
               .shared = key.second + 1 == levels.size(),
               .source = fmt::format("bandwidth probe, best of its kernels in this level ({})", b.second)});
  std::map<int, std::pair<double, std::string>> dram;  // threads -> GB/s, what
  for (const auto& [key, l] : largest)
    if (level_of(levels, l.first, key.first) == levels.size() && l.second > dram[key.first].first)
      dram[key.first] = {l.second, fmt::format("{} over {}", key.second, format_bytes(l.first))};
  for (const auto& [threads, d] : dram)
    roofs.add({.name = "DRAM",
               .compute = false,
               .threads = threads,
               .value = d.first,
               .source = fmt::format("bandwidth probe, best of its kernels at their largest working set ({})", d.second)});
}

void add_gpu_roofs(const Json& gpu, Roofs& roofs) {
  const Json& probes = member(gpu, "probes");
  if (const double g = number(member(probes, "gpu-flops"), "gflops_best"); g > 0)
    roofs.add({.name = "GPU FP32", .compute = true, .precision = "fp32", .device = "cuda", .threads = 1, .value = g,
               .source = "gpu-flops probe, FMA chains on every SM, best run"});
  // Memory: HBM (GDDR), the best of the probe's copies and triads over arrays far beyond the L2
  // and the driver's device-to-device copy; and the L2, read over half its size.
  const Json& bandwidth = member(probes, "gpu-bandwidth");
  double hbm = number(bandwidth, "d2d_gbytes_per_s", 0), l2 = 0, l2_bytes = 0;
  std::string hbm_test = "device-to-device copy";
  for (const Json& p : list(bandwidth, "points")) {
    const std::string test = text(p, "test");
    const double g = number(p, "gbytes_per_s", 0);
    if (test.rfind("read from L2", 0) == 0) {
      l2 = g, l2_bytes = 2 * number(p, "working_set", 0);
    } else if ((test.rfind("copy", 0) == 0 || test.rfind("triad", 0) == 0) && g > hbm) {
      hbm = g, hbm_test = test;
    }
  }
  if (l2 > 0 && l2_bytes > 0)
    roofs.add({.name = "GPU L2", .compute = false, .device = "cuda", .threads = 1, .value = l2, .capacity_bytes = l2_bytes,
               .shared = true, .source = "gpu-bandwidth probe, reads over half the L2"});
  if (hbm > 0)
    roofs.add({.name = "GPU memory", .compute = false, .device = "cuda", .threads = 1, .value = hbm, .shared = true,
               .source = "gpu-bandwidth probe, best over arrays beyond the L2 (" + hbm_test + ")"});
  // The host link: the bus probe's fitted bandwidth for pinned host-to-device copies (what the
  // training loop's batch upload uses).
  for (const Json& f : list(member(probes, "pcie"), "fits"))
    if (text(f, "memory") == "pinned" && text(f, "direction") == "H2D" && number(f, "gbytes_per_s", 0) > 0) {
      const std::string link = text(member(member(probes, "pcie"), "link"), "formula");
      roofs.add({.name = "host link (H2D, pinned)", .compute = false, .device = "cuda", .value = number(f, "gbytes_per_s"),
                 .host_link = true,
                 .source = "bus probe, pinned host-to-device copies, fitted" + (link.empty() ? "" : " (" + link + ")")});
      break;
    }
  // Tensor cores: the figure from the clocks where flopslab's table knows the architecture (the
  // probe's mma.sync chains stay below it on Hopper, whose full rate needs wgmma, as cuBLAS
  // uses: a measured roof there would stand below cuBLAS); else the chains' best run.
  const Json& tensor = member(member(probes, "gpu-flops"), "tensor");
  for (const char* precision : {"bf16", "tf32"}) {
    const Json& chain = member(tensor, precision);
    const double theoretical = number(tensor, fmt::format("theoretical_{}_gflops", precision).c_str(), 0);
    const double measured = chain.value("checked", false) ? number(chain, "gflops_best", 0) : 0;
    const std::string name = fmt::format("GPU {} tensor", precision);
    if (theoretical > 0)
      roofs.add({.name = name, .precision = precision, .device = "cuda", .value = theoretical,
                 .source = fmt::format("tensor cores from the clocks ({}); the mma.sync chain reached {:.0f} GFLOP/s",
                                       text(tensor, "theoretical_formula"), measured)});
    else if (measured > 0)
      roofs.add({.name = name, .precision = precision, .device = "cuda", .value = measured,
                 .source = "gpu-flops probe, mma.sync chains on every SM, best run (wgmma or tcgen05 may go faster)"});
  }
}

}  // namespace

void Roofs::raise(Roof roof) {
  for (Roof& r : roofs_)
    if (r.compute == roof.compute && r.name == roof.name && r.device == roof.device && r.threads == roof.threads) {
      if (roof.value > r.value)
        r.source = roof.source + fmt::format(" (the probe's {:.4g} was lower)", r.value), r.value = roof.value;
      return;
    }
  roofs_.push_back(std::move(roof));
}

const Roof* Roofs::compute_for(const std::string& device, const std::string& precision, int threads) const {
  const Roof* best = nullptr;
  for (const Roof& r : roofs_)
    if (r.compute && r.device == device && r.precision == precision && r.threads == threads &&
        (best == nullptr || r.value > best->value))
      best = &r;
  return best;
}

const Roof* Roofs::memory_for(const std::string& device, double working_set, int threads) const {
  const Roof* best = nullptr;  // the smallest level that holds the working set
  for (const Roof& r : roofs_)
    if (!r.compute && !r.host_link && r.device == device && r.threads == threads &&
        (r.shared ? working_set : working_set / threads) <= r.capacity_bytes &&
        (best == nullptr || r.capacity_bytes < best->capacity_bytes))
      best = &r;
  return best;
}

const Roof* Roofs::next_faster(const Roof& level) const {
  const Roof* best = nullptr;
  for (const Roof& r : roofs_)
    if (!r.compute && !r.host_link && r.device == level.device && r.threads == level.threads &&
        r.capacity_bytes < level.capacity_bytes &&
        (best == nullptr || r.capacity_bytes > best->capacity_bytes))
      best = &r;
  return best;
}

const Roof* Roofs::host_link(const std::string& device) const {
  for (const Roof& r : roofs_)
    if (r.host_link && r.device == device) return &r;
  return nullptr;
}

std::string Placement::bound_name() const {
  if (!not_placed.empty()) return "-";
  if (link != nullptr) return link->name + " bandwidth";
  if (memory_bound || compute == nullptr) return memory->name + " bandwidth";
  return compute->name + " peak";
}

Placement place(const Point& point, const Roofs& roofs) {
  Placement p{.point = point};
  const int threads = point.device == "cpu" ? point.threads : 1;
  const double working_set = point.working_set > 0 ? point.working_set : point.bytes;
  p.memory = roofs.memory_for(point.device, working_set, threads);
  if (point.flops > 0) p.compute = roofs.compute_for(point.device, point.precision, threads);
  if (!(point.seconds > 0) || !(point.bytes > 0)) {
    p.not_placed = "no time or no byte count";
  } else if (point.flops > 0 && p.compute == nullptr) {
    p.not_placed = point.device == "cpu" ? fmt::format("no {} compute roof measured on {} thread{} here",
                                                       point.precision, threads, threads == 1 ? "" : "s")
                                         : fmt::format("no {} compute roof measured on the GPU here (the gpu-flops "
                                                       "probe of this report timed FP32 FMAs only)",
                                                       point.precision);
  } else if (p.memory == nullptr) {
    p.not_placed = point.device == "cpu"
                       ? fmt::format("no bandwidth measured on {} thread{} here", threads, threads == 1 ? "" : "s")
                       : std::string("no GPU memory bandwidth measured here");
  }
  if (!p.not_placed.empty()) {
    p.compute = p.memory = nullptr;
    return p;
  }
  auto bound_by = [&](const Roof* memory) {
    p.memory = memory;
    if (point.flops > 0) {
      const double memory_limit = point.intensity() * p.memory->value;
      p.memory_bound = memory_limit < p.compute->value;
      p.attainable = std::min(p.compute->value, memory_limit);
      p.fraction = point.gflops() / p.attainable;
    } else {  // data movement: GB/s against the level's bandwidth
      p.memory_bound = true;
      p.attainable = p.memory->value;
      p.fraction = point.gbytes_per_s() / p.attainable;
    }
  };
  bound_by(p.memory);
  if (point.input_may_be_cached && p.memory_bound && p.fraction > kAboveRoofTolerance) {
    const std::string by_size = p.memory->name;
    for (const Roof* faster = roofs.next_faster(*p.memory); faster != nullptr && p.memory_bound &&
                                                            p.fraction > kAboveRoofTolerance;
         faster = roofs.next_faster(*faster))
      bound_by(faster);
    p.note = fmt::format("faster than {} allows: its input was still in {}, {}", by_size, p.memory->name,
                         point.cached_by);
  }
  // What crosses the host link each call bounds it too, at FLOPs per link byte.
  if (const Roof* link = roofs.host_link(point.device); link != nullptr && point.link_bytes > 0) {
    const double link_limit = point.flops > 0 ? point.flops / point.link_bytes * link->value : link->value;
    if (link_limit < p.attainable) {
      p.link = link, p.memory_bound = true, p.attainable = link_limit;
      p.fraction = (point.flops > 0 ? point.gflops() : point.gbytes_per_s()) / link_limit;
    }
  }
  p.above_roof = !point.effective_rate && p.fraction > kAboveRoofTolerance;
  return p;
}

Roofs roofs_from_sections(const Json& sections) {
  Roofs roofs;
  add_cpu_roofs(member(sections, "cpu"), roofs);
  // The GEMM sweep measures the same FMA loop around its rows: a second run of that ceiling in
  // this run, nearer in time to the points (a probe run while another program held a core
  // would otherwise put a roof under what the cores then did). compute_for takes the higher.
  for (const Json& p : list(member(sections, "gemm"), "peaks")) {
    const double g = number(p, "gflops");
    if (!(g > 0) || text(p, "isa").empty()) continue;
    Roof sweep{.name = text(p, "isa") + " " + text(p, "precision"),
               .precision = text(p, "precision"),
               .threads = int(number(p, "threads", 1)),
               .value = g,
               .source = fmt::format("GEMM sweep, {} loop, the better of a run before and one after its rows",
                                     text(p, "loop"))};
    roofs.raise(std::move(sweep));
  }
  add_gpu_roofs(member(sections, "gpu"), roofs);
  return roofs;
}

int Roofline::flagged() const {
  return int(std::count_if(placements.begin(), placements.end(), [](const Placement& p) { return p.above_roof; }));
}

Roofline roofline_from_sections(const Json& sections) {
  Roofline r{.roofs = roofs_from_sections(sections)};
  for (const Point& p : points_from_sections(sections)) r.placements.push_back(place(p, r.roofs));
  r.counters = text(member(sections, "gemm"), "counters");
  if (r.counters.empty()) r.counters = text(member(sections, "conv"), "counters");
  r.gpu_counters = text(member(sections, "gpu_gemm"), "counters");
  if (r.gpu_counters.empty()) r.gpu_counters = text(member(sections, "gpu_conv"), "counters");
  return r;
}

}  // namespace flopslab::bench::roofline
