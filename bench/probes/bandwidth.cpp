// Probe "bandwidth": the STREAM kernels over working sets from L1 to DRAM, on one thread and
// on every core; non-temporal stores next to normal ones (the write-allocate effect);
// and likwid-bench's STREAM triad as the peer.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "harness/affinity.h"
#include "harness/files.h"
#include "harness/machine/likwid.h"
#include "bench/probes/probe.h"
#include "bench/probes/stream_runner.h"
#include "kernels/cpu/cpu_features.h"
#include "harness/format.h"

namespace flopslab::bench {
namespace {

#if defined(__aarch64__)
constexpr bool kOnAarch64 = true;
#else
constexpr bool kOnAarch64 = false;
#endif

std::vector<double> octave_sizes(double from, double to, int per_octave) {
  std::vector<double> sizes;
  for (int i = 0;; ++i) {
    const double s = from * std::pow(2.0, double(i) / per_octave);
    if (s > to * 1.0001) break;
    sizes.push_back(s);
  }
  return sizes;
}

std::string gbps(double v) { return std::isfinite(v) && v > 0 ? fmt::format("{:.1f}", v) : "-"; }

// likwid-bench's triad with the widest vectors this CPU has.
// likwid-bench's triad for this CPU's widest x86 set; none on aarch64, where its kernels have
// other names and Debian has no package to check them against.
const char* likwid_triad(bool nontemporal) {
  if (kOnAarch64) return nullptr;
  const CpuFeatures& f = cpu_features();
  if (f.can_avx512()) return nontemporal ? "stream_mem_avx512" : "stream_avx512_fma";
  if (f.can_avx2_fma()) return nontemporal ? "stream_mem_avx_fma" : "stream_avx_fma";
  return nontemporal ? "stream_mem_sse" : "stream_sse";
}

}  // namespace

ProbeReport run_bandwidth_probe(const ProbeContext& ctx) {
  ProbeReport report("bandwidth", "Memory bandwidth (lesson 02)");
  std::int64_t llc = 0;
  for (int level = 1; level <= 4; ++level) llc = std::max(llc, cache_bytes(ctx.machine, level));
  // Largest working set: beyond 4x the LLC and at least 256 MiB, within the memory budget.
  const double largest = double(std::min<std::int64_t>(ctx.max_bytes, std::max<std::int64_t>(4 * llc, 256 << 20)));
  const std::int64_t elements = std::int64_t(largest / 16) / 64 * 64;  // per array; copy uses 2 arrays
  ctx.step(fmt::format("bandwidth: allocating 3 x {}", format_bytes(double(elements) * 8)));
  StreamArrays arrays(elements, ctx.cores);

  TimingOptions timing = ctx.timing;
  timing.min_time_s = std::min(timing.min_time_s, 0.02);
  timing.max_time_s = std::min(timing.max_time_s, ctx.quick ? 0.1 : 0.3);
  timing.warmup_s = std::min(timing.warmup_s, 0.01);

  // Working set = bytes of all arrays the kernel touches.
  struct Point {
    const probes::StreamKernel* kernel;
    int threads;
    double bytes, gbps, spread;
  };
  std::vector<Point> points;
  std::vector<int> thread_counts{1};
  if (ctx.cores > 1) thread_counts.push_back(ctx.cores);
  for (int threads : thread_counts) {
    const int per_octave = 1;
    for (const probes::StreamKernel& k : probes::stream_kernels()) {
      const double max_set = double(std::min<std::int64_t>(elements, std::int64_t(largest / k.bytes_per_element()))) *
                             k.bytes_per_element();
      for (double set : octave_sizes(16 << 10, max_set, per_octave)) {
        const std::int64_t n = std::int64_t(set / k.bytes_per_element()) / (8 * threads) * (8 * threads);
        if (n < 8 * threads) continue;
        ctx.step(fmt::format("bandwidth: {} over {} on {} thread{}", k.name, format_bytes(set), threads, threads == 1 ? "" : "s"));
        const StreamResult r = measure_stream(k, arrays, n, threads, timing);
        points.push_back({&k, threads, double(n) * k.bytes_per_element(), r.gbytes_per_s, r.timing.spread()});
      }
    }
  }

  // Summary: each kernel at half of each cache level (per thread) and at the largest set.
  auto at = [&](const probes::StreamKernel* k, int threads, double bytes) {
    const Point* best = nullptr;
    for (const Point& p : points)
      if (p.kernel == k && p.threads == threads &&
          (best == nullptr || std::abs(std::log(p.bytes / bytes)) < std::abs(std::log(best->bytes / bytes))))
        best = &p;
    return best != nullptr ? best->gbps : std::nan("");
  };
  auto largest_of = [&](const probes::StreamKernel* k, int threads) {
    const Point* best = nullptr;
    for (const Point& p : points)
      if (p.kernel == k && p.threads == threads && (best == nullptr || p.bytes > best->bytes)) best = &p;
    return best != nullptr ? best->gbps : std::nan("");
  };
  using A = Table::Align;
  std::vector<Table::Column> columns{{"kernel", A::left}, {"formula", A::left}, {"B/elem"}};
  std::vector<std::pair<std::string, double>> levels;
  for (int level = 1; level <= 3; ++level)
    if (const std::int64_t b = cache_bytes(ctx.machine, level)) levels.emplace_back(fmt::format("L{}", level), double(b) / 2);
  for (const auto& [name, bytes] : levels) columns.push_back({fmt::format("{} (1 thread)", name)});
  columns.push_back({"DRAM (1 thread)"});
  if (ctx.cores > 1) columns.push_back({fmt::format("DRAM ({} threads)", ctx.cores)});
  Table summary(columns);
  for (const probes::StreamKernel& k : probes::stream_kernels()) {
    std::vector<std::string> row{k.name, k.formula, std::to_string(int(k.bytes_per_element()))};
    for (const auto& [name, bytes] : levels) row.push_back(gbps(at(&k, 1, bytes)));
    row.push_back(gbps(largest_of(&k, 1)));
    if (ctx.cores > 1) row.push_back(gbps(largest_of(&k, ctx.cores)));
    summary.add_row(row);
  }

  // Peers: likwid-bench's triad at the largest set, normal and non-temporal stores.
  const probes::StreamKernel* triad = probes::find_stream_kernel("triad");
  const probes::StreamKernel* triad_nt = probes::find_stream_kernel("triad-nt");
  Table peers({{"kernel", A::left}, {"threads"}, {"flopslab GB/s"}, {"likwid-bench", A::left}, {"likwid GB/s"},
               {"flopslab / likwid"}});
  Json peer_json = Json::array();
  const std::int64_t likwid_mb = std::max<std::int64_t>(1, std::int64_t(double(elements) * 24 / 1e6));
  for (int threads : ctx.peers ? thread_counts : std::vector<int>{})
    for (bool nt : {false, true}) {
      const char* test = likwid_triad(nt);
      LikwidResult peer;
      if (test == nullptr) {
        peer.reason = "no likwid-bench peer on aarch64 (" + likwid_missing_reason() + ")";
      } else {
        ctx.step(fmt::format("bandwidth: likwid-bench {} on {} thread{}", test, threads, threads == 1 ? "" : "s"));
        peer = run_likwid(test, fmt::format("N:{}MB:{}", likwid_mb, threads), threads);
      }
      const double ours = largest_of(nt ? triad_nt : triad, threads);
      peers.add_row({nt ? "triad-nt" : "triad", std::to_string(threads), gbps(ours), peer.ran ? test : peer.reason,
                     peer.ran ? gbps(peer.gbytes_per_s) : "-",
                     peer.ran ? fmt::format("{:.3f}", ours / peer.gbytes_per_s) : "-"});
      peer_json.push_back({{"kernel", nt ? "triad-nt" : "triad"}, {"threads", threads}, {"gbytes_per_s", ours},
                           {"likwid_command", peer.command},
                           {"likwid_gbytes_per_s", peer.ran ? Json(peer.gbytes_per_s) : Json(nullptr)},
                           {"likwid_not_run", peer.reason}});
    }

  const double copy_dram = largest_of(probes::find_stream_kernel("copy"), 1);
  const double copy_nt_dram = largest_of(probes::find_stream_kernel("copy-nt"), 1);
  report.say(
      "Bytes are counted as STREAM counts them: 8 per element read plus 8 per element written (B/elem), in decimal "
      "GB/s. A normal store first reads its cache line (write-allocate), so copy really moves 24 bytes per element "
      "to and from DRAM while STREAM credits it with 16; a non-temporal store (-nt) skips that read.");
  report.say(fmt::format("Write-allocate, measured: at DRAM sizes on one thread copy-nt reached {} GB/s against "
                         "copy's {} GB/s ({:.2f}x; 1.5x would mean the saved read was the whole difference).",
                         gbps(copy_nt_dram), gbps(copy_dram), copy_nt_dram / copy_dram));
  report.table(std::move(summary));
  if (ctx.peers) {
    report.say("Peer: likwid-bench's STREAM triad on the same number of threads and a similar working set.");
    report.table(std::move(peers));
  } else {
    report.say("Peers not run (quick mode).");
  }
  report.chart("bandwidth.png", "Bandwidth against working set, per kernel");

  Json curve = Json::array();
  for (const Point& p : points)
    curve.push_back({{"kernel", p.kernel->name}, {"threads", p.threads}, {"bytes", p.bytes},
                     {"gbytes_per_s", p.gbps}, {"spread", p.spread}, {"bytes_per_element", p.kernel->bytes_per_element()},
                     {"nontemporal", p.kernel->nontemporal}});
  Json caches = Json::array();
  for (int level = 1; level <= 4; ++level)
    if (const std::int64_t b = cache_bytes(ctx.machine, level)) caches.push_back({{"level", level}, {"bytes", b}});
  report.json = Json{{"convention", "STREAM: bytes read + bytes written per element, no write-allocate, GB = 1e9"},
                     {"hwloc_caches", caches},
                     {"points", curve},
                     {"peers", peer_json}};
  return report;
}

}  // namespace flopslab::bench
