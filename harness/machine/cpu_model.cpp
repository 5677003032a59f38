// The CPU's theoretical peak from its clock, cores, SIMD width and pipes, each part with its
// source.
#include "harness/machine/cpu_model.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "harness/affinity.h"
#include "harness/files.h"
#include "kernels/cpu/probes/clock.h"
#include "harness/format.h"
#include "kernels/cpu/arm_cores.h"

namespace flopslab::bench {

ClockMeasurement measure_clock(int cores, const TimingOptions& options) {
  constexpr std::int64_t kIterations = 1 << 15;  // 3.3 M cycles: about a millisecond per call
  const double adds = double(kIterations) * probes::kAddsPerIteration;
  std::vector<std::uint64_t> sink(static_cast<std::size_t>(std::max(cores, 1)) * 8);
  auto ghz_with = [&](int threads, bool multiply) {
    pin_team(threads);
    const Timing t = measure(
        [&] {
#pragma omp parallel num_threads(threads)
          sink[static_cast<std::size_t>(omp_get_thread_num()) * 8] +=
              multiply ? probes::dependent_multiplies(kIterations) : probes::dependent_adds(kIterations);
        },
        options);
    const double cycles = multiply ? double(kIterations) * probes::kMultipliesPerIteration * probes::kMultiplyLatency : adds;
    return cycles / t.min * 1e-9;  // the fastest call: the clock the core can hold
  };
  ClockMeasurement c;
  c.cores = std::max(cores, 1);
  c.ghz_one_core = ghz_with(1, false);
  c.ghz_multiply = ghz_with(1, true);
  const bool agree = std::abs(c.ghz_one_core / c.ghz_multiply - 1) < 0.1;
  c.ghz_all_cores = c.cores > 1 ? ghz_with(c.cores, !agree) : (agree ? c.ghz_one_core : c.ghz_multiply);
  if (!agree) {
    c.note = fmt::format("the add chain read {:.2f} GHz and the multiply chain {:.2f} GHz; this core resolves some "
                         "adds without a full cycle each, so the multiply chain's figure is used",
                         c.ghz_one_core, c.ghz_multiply);
    c.ghz_one_core = c.ghz_multiply;
  }
  return c;
}

FmaPipes fma_pipes(const MachineInfo& m) {
  auto known = [](int narrow, int wide, const char* name) { return FmaPipes{narrow, wide, name, true}; };
  const int model = m.cpu_model;
#if defined(__aarch64__)
  // cpu_family and cpu_model hold the MIDR's implementer and part there.
  const ArmCore core = arm_core(m.cpu_family, model);
  if (core.fp32_fma_lanes_per_cycle > 0)
    return {core.fp32_fma_lanes_per_cycle / 4, 0, core.name, true, core.fp32_fma_lanes_per_cycle};
  return {0, 0, "unknown", false};
#endif
  if (m.cpu_vendor == "AuthenticAMD" || m.cpu_vendor == "HygonGenuine") {
    // Zen and Zen+ split a 256-bit FMA into two 128-bit halves: one 256-bit FMA per cycle.
    if (m.cpu_family == 0x17) return model < 0x30 ? known(1, 0, "Zen / Zen+") : known(2, 0, "Zen 2");
    if (m.cpu_family == 0x19) {
      const bool zen4 = (model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) ||
                        (model >= 0xa0 && model <= 0xaf);
      // Zen 4 runs a 512-bit FMA as two 256-bit halves: one per cycle.
      return zen4 ? known(2, 1, "Zen 4") : known(2, 0, "Zen 3");
    }
    if (m.cpu_family == 0x1a) return known(2, 2, "Zen 5");
  }
  if (m.cpu_vendor == "GenuineIntel" && m.cpu_family == 6) {
    // AMX exists only on Sapphire Rapids and later server cores, all with two 512-bit FMA
    // pipes. A hypervisor may report another model number (a Firecracker guest on Granite
    // Rapids reads model 0xa7, Rocket Lake's), so the feature outranks the number.
    const bool amx = std::find(m.simd.begin(), m.simd.end(), "amx_tile") != m.simd.end();
    if (amx && model != 0x8f && model != 0xcf && model != 0xad && model != 0xae)
      return {2, 2, fmt::format("Sapphire Rapids or later (AMX present; the model number {:#x} is not one of them, as "
                                "a hypervisor may report)", model), true};
    switch (model) {
      case 0x3c: case 0x3f: case 0x45: case 0x46: return known(2, 0, "Haswell");
      case 0x3d: case 0x47: case 0x4f: case 0x56: return known(2, 0, "Broadwell");
      case 0x4e: case 0x5e: case 0x8e: case 0x9e: case 0xa5: case 0xa6: return known(2, 0, "Skylake (client)");
      case 0x55: return known(2, 2, "Skylake-SP / Cascade Lake (some Silver and Bronze parts have 1 AVX-512 pipe)");
      case 0x6a: case 0x6c: return known(2, 2, "Ice Lake-SP");
      case 0x7d: case 0x7e: case 0x8c: case 0x8d: case 0xa7: return known(2, 1, "Ice Lake / Tiger Lake / Rocket Lake (client)");
      case 0x8f: return known(2, 2, "Sapphire Rapids");
      case 0xcf: return known(2, 2, "Emerald Rapids");
      case 0xad: case 0xae: return known(2, 2, "Granite Rapids");
      case 0x97: case 0x9a: case 0xb7: case 0xba: case 0xbf: return known(2, 0, "Alder / Raptor Lake (P-cores)");
      default: break;
    }
  }
  return {0, 0, "unknown", false};
}

int infer_pipes(double gflops, double ghz, const probes::FmaLoop& loop) {
  if (ghz <= 0) return 1;
  const double flop_per_cycle = gflops / ghz;
  return std::max(1, static_cast<int>(std::lround(flop_per_cycle * loop.issue_cycles /
                                                  (2.0 * loop.lanes * loop.products_per_lane))));
}

int pipes_for(const FmaPipes& pipes, const probes::FmaLoop& loop) {
  if (!loop.fused) return 1;
  if (pipes.arm_fp32_lanes > 0) return std::max(1, pipes.arm_fp32_lanes / std::max(4, loop.vector_bits / 32));
  return loop.vector_bits == 512 ? pipes.wide : pipes.narrow;
}

int assumed_pipes(const FmaPipes& pipes, const probes::FmaLoop& loop) {
  return pipes.from_table || !loop.fused ? pipes_for(pipes, loop) : 2;
}

TheoreticalPeak theoretical_peak(const probes::FmaLoop& loop, int cores, double ghz, int pipes) {
  TheoreticalPeak p;
  p.gflops = double(cores) * ghz * loop.lanes * loop.products_per_lane * pipes * 2.0 / loop.issue_cycles;
  const std::string products = loop.products_per_lane == 1 ? "" : fmt::format(" x {} products", loop.products_per_lane);
  const std::string issue = loop.issue_cycles == 1 ? "" : fmt::format(" / {} cycles", loop.issue_cycles);
  p.formula = fmt::format("{} core{} x {:.2f} GHz x {} lane{}{} x {} {}{}{} x 2 = {:.1f} GFLOP/s", cores,
                          cores == 1 ? "" : "s", ghz, loop.lanes, loop.lanes == 1 ? "" : "s", products, pipes,
                          loop.products_per_lane == 32  ? "tile multiply unit"
                          : loop.products_per_lane == 4 ? "matrix-product pipe"
                          : loop.products_per_lane == 2 ? "dot-product pipe"
                          : loop.fused                ? "FMA pipe"
                                                      : "multiply+add pipe pair",
                          pipes == 1 ? "" : "s", issue, p.gflops);
  return p;
}

namespace {

struct PeakLine {
  const char* precision;
  TheoreticalPeak one, all;
};

std::vector<PeakLine> peak_lines(const MachineInfo& m, const ClockMeasurement& clock, const FmaPipes& pipes) {
  std::vector<PeakLine> lines;
  for (probes::Precision precision : {probes::Precision::fp32, probes::Precision::fp64}) {
    const probes::FmaLoop& loop = probes::widest_fma_loop(precision);
    const int p = assumed_pipes(pipes, loop);
    lines.push_back({probes::precision_name(precision), theoretical_peak(loop, 1, clock.ghz_one_core, p),
                     theoretical_peak(loop, m.physical_cores, clock.ghz_all_cores, p)});
  }
  return lines;
}

}  // namespace

std::string cpu_peak_summary(const MachineInfo& m, const ClockMeasurement& clock) {
  const FmaPipes pipes = fma_pipes(m);
  std::string out = fmt::format("Clock        {:.2f} GHz on one core, {:.2f} GHz per core with all {} busy (measured)\n",
                                clock.ghz_one_core, clock.ghz_all_cores, clock.cores);
  if (!clock.note.empty()) out += "Note         " + clock.note + "\n";
  const bool fma = probes::widest_fma_loop(probes::Precision::fp32).fused;
  out += fmt::format("Core         {}{}\n", pipes.microarchitecture,
                     !fma ? " (no FMA: a multiply pipe and an add pipe assumed; `flopslab probe flops` measures them)"
                     : pipes.from_table ? ""
                                        : " (FMA pipes unknown: 2 assumed; `flopslab probe flops` infers them)");
  for (const PeakLine& l : peak_lines(m, clock, pipes)) {
    out += fmt::format("{} peak    one core: {}\n", l.precision == std::string("fp32") ? "FP32" : "FP64", l.one.formula);
    out += fmt::format("             all cores: {}\n", l.all.formula);
  }
  // big.LITTLE: the all-cores line above counts every core as the first kind; each cluster's own.
  if (m.arm_cpus.big_little())
    out += fmt::format("Clusters     FP32 by cluster (table figures, top clocks): {}\n", cluster_peak_formula(m.arm_cpus));
  for (const std::string& w : machine_warnings(m)) out += "Warning      " + w + "\n";
  return out;
}

Json cpu_peak_json(const MachineInfo& m, const ClockMeasurement& clock) {
  const FmaPipes pipes = fma_pipes(m);
  Json peaks = Json::object();
  for (const PeakLine& l : peak_lines(m, clock, pipes))
    peaks[l.precision] = {{"one_core_gflops", l.one.gflops}, {"one_core_formula", l.one.formula},
                          {"all_cores_gflops", l.all.gflops}, {"all_cores_formula", l.all.formula}};
  return Json{{"clock_ghz_one_core", clock.ghz_one_core},
              {"clock_ghz_all_cores", clock.ghz_all_cores},
              {"clock_ghz_multiply_chain", clock.ghz_multiply},
              {"clock_note", clock.note},
              {"microarchitecture", pipes.microarchitecture},
              {"fma_pipes", {{"narrow", pipes.narrow}, {"wide", pipes.wide}, {"from_table", pipes.from_table}}},
              {"theoretical_peak", peaks},
              {"warnings", machine_warnings(m)}};
}

std::vector<std::string> machine_warnings(const MachineInfo& m) {
  std::vector<std::string> w;
  if (m.memory_hwloc_bytes > 0 && m.memory_os_bytes > 0 && m.memory_hwloc_bytes < 0.9 * double(m.memory_os_bytes))
    w.push_back(fmt::format(
        "hwloc's topology holds {} of memory but the OS reports {}: the virtual machine's firmware tables "
        "(ACPI SRAT) describe less memory than it has. flopslab trusts the OS figure.",
        format_bytes(double(m.memory_hwloc_bytes)), format_bytes(double(m.memory_os_bytes))));
  std::int64_t previous = 0;
  for (int level = 1; level <= 4; ++level) {
    const std::int64_t bytes = cache_bytes(m, level);
    if (bytes == 0) continue;
    if (level == 1 && bytes > (256 << 10))
      w.push_back(fmt::format("an L1 data cache of {} is larger than any CPU's (at most 64 KiB today)", format_bytes(double(bytes))));
    if (bytes < previous)
      w.push_back(fmt::format("L{} ({}) is reported smaller than L{} ({}); one of the two is wrong", level,
                              format_bytes(double(bytes)), level - 1, format_bytes(double(previous))));
    previous = bytes;
  }
  for (const CacheLevel& c : m.caches) {
    if (c.level < 3 || c.shared_by_cpus <= 0) continue;
    const double per_cpu = double(c.bytes) / c.shared_by_cpus;
    if (per_cpu > 16.0 * (1 << 20))
      w.push_back(fmt::format(
          "an L{} of {} shared by {} CPU{} is {} per CPU, more than any x86 CPU has per core (at most about 12 MiB): "
          "a virtual machine often sees the whole host chip's cache. The latency probe's boundary is the better guide.",
          c.level, format_bytes(double(c.bytes)), c.shared_by_cpus, c.shared_by_cpus == 1 ? "" : "s",
          format_bytes(per_cpu)));
  }
  if (m.topology_source.rfind("hwloc", 0) != 0) w.push_back(m.topology_source);
  return w;
}

}  // namespace flopslab::bench
