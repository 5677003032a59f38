// The CPU's theoretical peak, built from measured and known parts:
//   peak = cores x GHz (measured) x SIMD lanes x FMA pipes x 2
// The clock comes from a dependent add chain (one add per cycle), the lanes from the ISA, the
// number of FMA pipes per core from a table of microarchitectures (CPUID cannot tell), or,
// for a CPU the table does not know, inferred from the FMA probe and marked as such.
#pragma once

#include <string>
#include <vector>

#include "harness/machine/machine.h"
#include "harness/timing.h"
#include "kernels/cpu/probes/fma_chains.h"

namespace flopslab::bench {

struct ClockMeasurement {
  double ghz_one_core = 0;   // one thread alone (single-core turbo)
  double ghz_all_cores = 0;  // every physical core busy at once (all-core turbo), per core
  int cores = 0;
  double ghz_multiply = 0;   // one core, from the multiply chain (the cross-check)
  std::string note;          // set when the two chains disagreed and the multiply chain was used
};

// One add chain per physical core, pinned.
ClockMeasurement measure_clock(int cores, const TimingOptions& options);

struct FmaPipes {
  int narrow = 0;  // FMAs per cycle per core for scalar, 128- and 256-bit operations
  int wide = 0;    // for 512-bit operations (0: no AVX-512)
  std::string microarchitecture;  // "Zen 3", "Sapphire Rapids", ... or "unknown"
  bool from_table = false;        // false: not known, must be inferred from a measurement
  // aarch64: fp32 FMA lanes per cycle over all pipes (kernels/cpu/arm_cores.h); a loop's pipes
  // are these over its own lanes (SVE's vectors may be wider than the pipes). 0 on x86.
  int arm_fp32_lanes = 0;
};

// Looks the CPU up by vendor, family and model (on aarch64: MIDR implementer and part).
FmaPipes fma_pipes(const MachineInfo& machine);

// The pipes a measurement implies: FLOP per cycle / (lanes x 2), rounded, at least 1.
int infer_pipes(double measured_gflops_one_core, double ghz, const probes::FmaLoop& loop);

struct TheoreticalPeak {
  double gflops = 0;
  // "2 cores x 3.19 GHz x 8 lanes x 2 FMA pipes x 2 = 102.1 GFLOP/s"; without FMA "... x 1
  // multiply+add pipe pair x 2 = ...".
  std::string formula;
};

TheoreticalPeak theoretical_peak(const probes::FmaLoop& loop, int cores, double ghz, int pipes);
// The pipes that apply to a loop: the table's for its vector width. A mul+add loop counts
// multiply-and-add pipe pairs instead: 1, as on every core without FMA (Nehalem to Ivy
// Bridge, AMD K10); a core with FMA may pair more, which the flops probe then measures.
int pipes_for(const FmaPipes& pipes, const probes::FmaLoop& loop);
// pipes_for where the table knows the core; else 2 FMA pipes assumed (1 pair for mul+add).
int assumed_pipes(const FmaPipes& pipes, const probes::FmaLoop& loop);

// "Clock", "FP32 peak", "FP64 peak" and warning lines for `flopslab info` and report.md, and
// the same as JSON. Unknown FMA pipes are assumed to be 2 and said so.
std::string cpu_peak_summary(const MachineInfo& machine, const ClockMeasurement& clock);
Json cpu_peak_json(const MachineInfo& machine, const ClockMeasurement& clock);

// Things hwloc or the hypervisor report that cannot be right (memory smaller than the OS sees,
// caches larger than any CPU has per core, ...), each a sentence to print next to the value.
std::vector<std::string> machine_warnings(const MachineInfo& machine);

}  // namespace flopslab::bench
